pub mod profiles;
pub mod settings;
pub mod stream;
pub mod studio;
