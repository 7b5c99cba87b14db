//! Parse & Correlate (SEC H11): does a Pre-Command carry what the signed request asked for?
