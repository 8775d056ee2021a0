//! The SQLite staging store: files, directories, chunks, xattrs and upload
//! state of the mount.
