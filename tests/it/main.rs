//! Integration tests through the modelark binary (and, in `library`, the use cases called
//! directly), against real tools where they exist.

mod attachments;
mod browser;
mod cli;
mod discovery;
mod faults;
mod foreign;
mod governance;
mod harness;
mod hostile;
mod interop;
mod json;
mod keyless;
mod library;
mod mlflow;
mod model_signing;
mod offline;
mod proxy;
mod registry;
mod reliability;
mod serve;
mod sign_interop;
mod signing;
mod sigstore;
mod store;
mod timestamps;
mod token;
