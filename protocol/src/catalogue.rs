//! The Service Reference Variant catalogue.
