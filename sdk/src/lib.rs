//! Ferry facade (being written)
