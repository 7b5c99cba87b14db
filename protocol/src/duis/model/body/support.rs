//! The `duis_type!` macro, which declares one type of the request-body model (the Rust type,
//! its reader and its writer) from a compact description of its content.
//!
//! # Why the model is generated
//!
//! The request `Body` of the DUIS V5.4 schema is a choice of 130 service elements whose
//! content spans about 260 complex types, 30-odd enumerations and some 60 facet sets. Typing
//! that by hand would be slow to write and hard to review against the schema, so
//! `protocol/data/gen_model.py` derives the family modules (`body/tariff.rs`, …), `facets.rs`,
//! `body/mod.rs` and `model/tables.rs` from the XSD. Schema types with the same content (the
//! same elements, occurrences, leaf types, facets and nested content) are emitted once; their
//! other names are type aliases. This module is written by hand: it turns each generated
//! description into code, so that the generated files hold only what the schema says.
//!
//! Regenerate after a schema change, from the workspace root, then review the diff:
//!
//! ```text
//! python3 protocol/data/gen_model.py [SHARED_ROOT]
//! ```
//!
//! `SHARED_ROOT` (by default `../shared` beside the workspace) holds
//! `conformance/duis/schema/DUIS Schema V5.4.xsd`; the script runs rustfmt on what it writes.
//!
//! # The descriptions
//!
//! ```text
//! duis_type! { /// doc
//!     empty Name; }                               // unit struct: no attributes, no content
//! duis_type! { /// doc
//!     struct Name {                               // element content, read in order
//!         @index: u8 = one attr("index", F3),     // attributes first, marked with `@`
//!         when: Option<xsd::DateTime> = opt leaf("ExecutionDateTime"),
//!         parts: Vec<Part> = many(1..=16) child("Part"),
//!         /// doc of a nested group or choice
//!         choice: NameChoice = one group,
//!     } }
//! duis_type! { /// doc
//!     simple Name {                               // simple content with attributes
//!         @unit: Option<Unit> = opt attr("unit"),
//!         value: u32 = one text(F7),
//!     } }
//! duis_type! { /// doc
//!     group Name ["A", "B"] nullable(false) { … fields … } }  // a nested sequence
//! duis_type! { /// doc
//!     choice Name ["A", "B", "C"] nullable(false) {   // a nested choice; `enum` for an
//!         A(Vec<u8>) = one leaf("A", F2),             // element whose whole content is one
//!         B(Part) = one child("B"),
//!         C(NameGroup) = one group ["C"],             // a group's variant names its first set
//!     } }
//! ```
//!
//! Occurrences are `one`, `opt`, `many(MIN..=MAX)`, `many(MIN..)` and `exactly(N)`. Leaves,
//! attributes and simple content name the static of their facets (`F3`,
//! `xsd::Facets::HEX`, …), or nothing for `Facets::NONE`. `[…]` after `group`, `choice` and
//! `enum` lists the elements that can start the type, `nullable` whether it can be empty; a
//! choice whose particles can be empty ends its head with `else none(V)`, `else empty(V)` or
//! `else group(V)`: the variant taken when no alternative starts. Field and variant
//! documentation is worded from the description unless given.

/// Declares one type of the body model with its `FromXml`/`ReadGroup` and
/// `ToXml`/`WriteGroup` implementations (see the module documentation).
macro_rules! duis_type {
    // ---------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------
    ($(#[$m:meta])* empty $name:ident;) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $crate::duis::reader::FromXml for $name {
            fn from_xml(
                el: &$crate::duis::xml::Element,
                path: &$crate::duis::reader::Path<'_>,
            ) -> Result<Self, $crate::duis::reader::ReadError> {
                $crate::duis::reader::empty_content(el, path)?;
                Ok($name)
            }
        }

        impl $crate::duis::writer::ToXml for $name {
            fn write_content(&self, _w: &mut $crate::duis::writer::XmlWriter) {}
        }
    };

    ($(#[$m:meta])* struct $name:ident { $($fields:tt)* }) => {
        duis_type!(@struct [cursor] $(#[$m])* $name { $($fields)* });
    };
    ($(#[$m:meta])* simple $name:ident { $($fields:tt)* }) => {
        duis_type!(@struct [text] $(#[$m])* $name { $($fields)* });
    };
    (
        $(#[$m:meta])*
        group $name:ident [$($first:literal),* $(,)?] nullable($nullable:literal) {
            $($fields:tt)*
        }
    ) => {
        duis_type!(@struct [group [$($first),*] $nullable] $(#[$m])* $name { $($fields)* });
    };

    // The struct of an element's or a group's content, then its reader and writer.
    (
        @struct [$($how:tt)*] $(#[$m:meta])* $name:ident {
            $( @$af:ident: $at:ty = $aocc:ident attr($($aa:tt)*), )*
            $(
                $(#[$fm:meta])*
                $f:ident: $t:ty = $occ:ident $(($($oa:tt)*))? $kind:ident $(($($ka:tt)*))?,
            )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( #[doc = duis_type!(@doc $aocc attr($($aa)*))] pub $af: $at, )*
            $(
                $(#[$fm])*
                #[doc = duis_type!(@doc $occ $(($($oa)*))? $kind $(($($ka)*))?)]
                pub $f: $t,
            )*
        }

        duis_type!(
            @impls $($how)* $name;
            $( $af [$aocc attr($($aa)*)] )*;
            $( $f [$occ $(($($oa)*))? $kind $(($($ka)*))?] )*
        );
    };

    (
        @impls group [$($first:literal),*] $nullable:literal $name:ident; ;
        $( $f:ident [$($spec:tt)*] )*
    ) => {
        impl $crate::duis::reader::ReadGroup for $name {
            const FIRST: &'static [&'static str] = &[$($first),*];
            const NULLABLE: bool = $nullable;

            fn read_group(
                c: &mut $crate::duis::reader::Cursor<'_>,
            ) -> Result<Self, $crate::duis::reader::ReadError> {
                Ok($name { $( $f: duis_type!(@read c; $($spec)*), )* })
            }
        }

        impl $crate::duis::writer::WriteGroup for $name {
            fn write_group(&self, w: &mut $crate::duis::writer::XmlWriter) {
                $( duis_type!(@write w, &self.$f; $($spec)*); )*
            }
        }
    };
    (
        @impls $content:ident $name:ident;
        $( $af:ident [$aocc:ident attr($an:literal $(, $afx:expr)?)] )*;
        $( $f:ident [$($spec:tt)*] )*
    ) => {
        impl $crate::duis::reader::FromXml for $name {
            fn from_xml(
                el: &$crate::duis::xml::Element,
                path: &$crate::duis::reader::Path<'_>,
            ) -> Result<Self, $crate::duis::reader::ReadError> {
                $crate::duis::reader::check_attrs(el, path, &[$($an),*])?;
                $( let $af = duis_type!(@read_attr el, path; $aocc $an $(, $afx)?); )*
                duis_type!(@content $content el, path, $name { $($af),* } $( $f = [$($spec)*] )*)
            }
        }

        impl $crate::duis::writer::ToXml for $name {
            #[allow(unused_variables)]
            fn write_attrs(&self, w: &mut $crate::duis::writer::XmlWriter) {
                $( duis_type!(@write w, &self.$af; $aocc attr($an $(, $afx)?)); )*
            }

            #[allow(unused_variables)]
            fn write_content(&self, w: &mut $crate::duis::writer::XmlWriter) {
                $( duis_type!(@write w, &self.$f; $($spec)*); )*
            }
        }
    };

    // Element content: child elements read in order, or the text of simple content.
    (
        @content cursor $el:ident, $path:ident, $name:ident { $($af:ident),* }
        $( $f:ident = [$($spec:tt)*] )*
    ) => {{
        #[allow(unused_mut)]
        let mut c = $crate::duis::reader::Cursor::new($el, $path)?;
        let v = $name { $($af,)* $( $f: duis_type!(@read c; $($spec)*), )* };
        c.finish()?;
        Ok(v)
    }};
    (
        @content text $el:ident, $path:ident, $name:ident { $($af:ident),* }
        $f:ident = [one text($($fx:expr)?)]
    ) => {
        Ok($name {
            $($af,)*
            $f: $crate::duis::reader::simple_content($el, $path, duis_type!(@facets $($fx)?))?,
        })
    };

    (
        $(#[$m:meta])*
        choice $name:ident [$($first:literal),* $(,)?] nullable($nullable:literal)
            $(else $dkind:ident($dv:ident))? { $($variants:tt)* }
    ) => {
        duis_type!(@choice $(#[$m])* $name [$($first),*] $nullable ($($dkind $dv)?) $($variants)*);
    };

    (
        $(#[$m:meta])*
        enum $name:ident [$($first:literal),* $(,)?] nullable($nullable:literal)
            $(else $dkind:ident($dv:ident))? { $($variants:tt)* }
    ) => {
        duis_type!(@choice $(#[$m])* $name [$($first),*] $nullable ($($dkind $dv)?) $($variants)*);

        impl $crate::duis::reader::FromXml for $name {
            fn from_xml(
                el: &$crate::duis::xml::Element,
                path: &$crate::duis::reader::Path<'_>,
            ) -> Result<Self, $crate::duis::reader::ReadError> {
                $crate::duis::reader::check_attrs(el, path, &[])?;
                let mut c = $crate::duis::reader::Cursor::new(el, path)?;
                let v = c.group::<Self>()?;
                c.finish()?;
                Ok(v)
            }
        }

        impl $crate::duis::writer::ToXml for $name {
            fn write_content(&self, w: &mut $crate::duis::writer::XmlWriter) {
                w.group(self);
            }
        }
    };

    (
        @choice $(#[$m:meta])* $name:ident [$($first:literal),* $(,)?] $nullable:literal
            ($($default:tt)*)
        $(
            $(#[$vm:meta])*
            $v:ident($t:ty) = $occ:ident $(($($oa:tt)*))? $kind:ident $(($($ka:tt)*))?
                $([$($p:literal),+])?,
        )*
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $(
                $(#[$vm])*
                #[doc = duis_type!(@doc $occ $(($($oa)*))? $kind $(($($ka)*))?)]
                $v($t),
            )*
        }

        impl $crate::duis::reader::ReadGroup for $name {
            const FIRST: &'static [&'static str] = &[$($first),*];
            const NULLABLE: bool = $nullable;

            fn read_group(
                c: &mut $crate::duis::reader::Cursor<'_>,
            ) -> Result<Self, $crate::duis::reader::ReadError> {
                match c.peek() {
                    $(
                        duis_type!(@first $kind $(($($ka)*))? $([$($p),+])?) => Ok($name::$v(
                            duis_type!(@read c; $occ $(($($oa)*))? $kind $(($($ka)*))?)
                        )),
                    )*
                    _ => duis_type!(@default c, $name; $($default)*),
                }
            }
        }

        impl $crate::duis::writer::WriteGroup for $name {
            fn write_group(&self, w: &mut $crate::duis::writer::XmlWriter) {
                match self {
                    $(
                        $name::$v(x) => {
                            duis_type!(@write w, x; $occ $(($($oa)*))? $kind $(($($ka)*))?);
                        }
                    )*
                }
            }
        }
    };

    // ---------------------------------------------------------------------------------------
    // Reading: one field from the cursor `$c`, an attribute of `$el`
    // ---------------------------------------------------------------------------------------
    (@read $c:ident; $occ:ident $(($($oa:tt)*))? child($n:literal)) => {
        duis_type!(@read_elem $c, $n, $crate::duis::reader::FromXml::from_xml; $occ $(($($oa)*))?)
    };
    (@read $c:ident; $occ:ident $(($($oa:tt)*))? leaf($n:literal $(, $fx:expr)?)) => {
        duis_type!(
            @read_elem $c, $n, $crate::duis::reader::leaf(duis_type!(@facets $($fx)?));
            $occ $(($($oa)*))?
        )
    };
    (@read $c:ident; one group) => { $c.group()? };
    (@read $c:ident; opt group) => { $c.opt_group()? };
    (@read $c:ident; many($min:literal..) group) => { $c.many_groups($min, None)? };
    (@read $c:ident; many($min:literal..=$max:literal) group) => {
        $c.many_groups($min, Some($max))?
    };
    (@read $c:ident; exactly($n:literal) group) => { $c.many_groups($n, Some($n))? };

    (@read_elem $c:ident, $n:literal, $r:expr; one) => { $c.one($n, $r)? };
    (@read_elem $c:ident, $n:literal, $r:expr; opt) => { $c.opt($n, $r)? };
    (@read_elem $c:ident, $n:literal, $r:expr; many($min:literal..)) => {
        $c.many($n, $min, None, $r)?
    };
    (@read_elem $c:ident, $n:literal, $r:expr; many($min:literal..=$max:literal)) => {
        $c.many($n, $min, Some($max), $r)?
    };
    (@read_elem $c:ident, $n:literal, $r:expr; exactly($k:literal)) => {
        $c.many($n, $k, Some($k), $r)?
    };

    (@read_attr $el:ident, $path:ident; one $n:literal $(, $fx:expr)?) => {
        $crate::duis::reader::attr($el, $path, $n, duis_type!(@facets $($fx)?))?
    };
    (@read_attr $el:ident, $path:ident; opt $n:literal $(, $fx:expr)?) => {
        $crate::duis::reader::opt_attr($el, $path, $n, duis_type!(@facets $($fx)?))?
    };

    (@facets) => { &$crate::duis::model::xsd::Facets::NONE };
    (@facets $fx:expr) => { &$fx };

    // The elements that start a variant: its element, or the given first set of a group.
    (@first group [$($p:literal),+]) => { Some($($p)|+) };
    (@first $kind:ident($n:literal $(, $fx:expr)?)) => { Some($n) };

    (@default $c:ident, $name:ident;) => { Err($c.no_alternative(Self::FIRST)) };
    (@default $c:ident, $name:ident; none $v:ident) => { Ok($name::$v(None)) };
    (@default $c:ident, $name:ident; empty $v:ident) => { Ok($name::$v(Vec::new())) };
    (@default $c:ident, $name:ident; group $v:ident) => { Ok($name::$v($c.group()?)) };

    // ---------------------------------------------------------------------------------------
    // Writing: `$r` is a reference to the field (or variant payload)
    // ---------------------------------------------------------------------------------------
    (@write $w:ident, $r:expr; one $($what:tt)*) => { duis_type!(@write_one $w, $r; $($what)*) };
    (@write $w:ident, $r:expr; opt $($what:tt)*) => {
        if let Some(v) = $r {
            duis_type!(@write_one $w, v; $($what)*)
        }
    };
    (@write $w:ident, $r:expr; $many:ident($($oa:tt)*) $($what:tt)*) => {
        for v in $r {
            duis_type!(@write_one $w, v; $($what)*)
        }
    };

    (@write_one $w:ident, $v:expr; child($n:literal)) => { $w.child($n, $v) };
    (@write_one $w:ident, $v:expr; leaf($n:literal $(, $fx:expr)?)) => {
        $w.leaf($n, $v, duis_type!(@facets $($fx)?))
    };
    (@write_one $w:ident, $v:expr; attr($n:literal $(, $fx:expr)?)) => {
        $w.attr($n, $v, duis_type!(@facets $($fx)?))
    };
    (@write_one $w:ident, $v:expr; group) => { $w.group($v) };
    (@write_one $w:ident, $v:expr; text($($fx:expr)?)) => { $w.text($v, duis_type!(@facets $($fx)?)) };

    // ---------------------------------------------------------------------------------------
    // Documentation of fields and variants
    // ---------------------------------------------------------------------------------------
    (@doc one attr($n:literal $(, $fx:expr)?)) => { concat!("Attribute `", $n, "`.") };
    (@doc opt attr($n:literal $(, $fx:expr)?)) => { concat!("Attribute `", $n, "` (optional).") };
    (@doc $occ:ident $(($($oa:tt)*))? group) => { "" };
    (@doc one text($($fx:expr)?)) => { "The element's value." };
    (@doc $occ:ident $(($($oa:tt)*))? $kind:ident($n:literal $(, $fx:expr)?)) => {
        concat!("`", $n, "`", duis_type!(@occ_doc $occ $(($($oa)*))?), ".")
    };
    (@occ_doc one) => { "" };
    (@occ_doc opt) => { " (optional)" };
    (@occ_doc many($min:literal..)) => { concat!(" (", $min, " or more)") };
    (@occ_doc many($min:literal..=$max:literal)) => { concat!(" (", $min, " to ", $max, ")") };
    (@occ_doc exactly($n:literal)) => { concat!(" (exactly ", $n, ")") };
}

pub(super) use duis_type;

/// Declares the `Body` enum, one boxed variant per service element of the schema's request
/// choice (`Variant(Type) = "Element"`, with `dated(one|opt)` where the content starts with
/// `ExecutionDateTime`), and the methods that go through every element: `ELEMENTS`,
/// `element_name`, `execution_date_time`, `read_element` and `write_element`.
macro_rules! body_elements {
    (
        $(#[$m:meta])*
        pub enum $body:ident {
            $(
                $(#[$vm:meta])*
                $v:ident($t:ty) = $n:literal $(dated($dated:ident))?,
            )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $body {
            $( $(#[$vm])* $v(Box<$t>), )*
            /// A schema element kept as a raw subtree (`xml` is the element itself).
            Other {
                /// Local name of the element.
                element: String,
                /// The element.
                xml: $crate::duis::xml::Element,
            },
        }

        impl $body {
            /// Local names of every element of the schema's request `Body` choice.
            pub const ELEMENTS: &'static [&'static str] = &[$($n),*];

            /// Local name of the body element.
            pub fn element_name(&self) -> &str {
                match self {
                    $( $body::$v(_) => $n, )*
                    $body::Other { element, .. } => element,
                }
            }

            /// The `ExecutionDateTime` of a future-datable body, if present.
            #[allow(unused_variables)]
            pub fn execution_date_time(&self) -> Option<&$crate::duis::model::xsd::DateTime> {
                match self {
                    $( $body::$v(b) => body_elements!(@dated b $($dated)?), )*
                    $body::Other { .. } => None,
                }
            }

            /// Reads the next element of `c` as a body element.
            ///
            /// # Errors
            ///
            /// [`ReadErrorKind::UnknownBodyElement`](crate::duis::reader::ReadErrorKind::UnknownBodyElement)
            /// for an element outside the schema's choice, or whatever reading its content
            /// reports.
            pub fn read_element(
                c: &mut $crate::duis::reader::Cursor<'_>,
            ) -> Result<$body, $crate::duis::reader::ReadError> {
                use $crate::duis::reader::{FromXml, ReadErrorKind};
                match c.peek() {
                    $( Some($n) => Ok($body::$v(Box::new(c.one($n, <$t as FromXml>::from_xml)?))), )*
                    Some(other) => {
                        Err(c.path().error(ReadErrorKind::UnknownBodyElement(other.to_owned())))
                    }
                    None => Err(c.path().error(ReadErrorKind::Missing {
                        expected: "a service element".to_owned(),
                        found: None,
                    })),
                }
            }

            /// Writes the body element.
            pub fn write_element(&self, w: &mut $crate::duis::writer::XmlWriter) {
                match self {
                    $( $body::$v(b) => w.child($n, b.as_ref()), )*
                    $body::Other { xml, .. } => w.raw(xml),
                }
            }
        }
    };

    (@dated $b:ident) => { None };
    (@dated $b:ident one) => { Some(&$b.execution_date_time) };
    (@dated $b:ident opt) => { $b.execution_date_time.as_ref() };
}

pub(super) use body_elements;
