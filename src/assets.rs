//! Where the model and data sets live; fetch + checksum.
