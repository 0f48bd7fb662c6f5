//! `linuxkit serve`: the directory over HTTP (see [`lk_serve`]).

pub use lk_serve::{FileServer, ServeError, listen_address};
