pub mod profiles;
pub mod settings;
pub mod studio;
