mod common;
mod errors;
mod federated_sql;
mod pushdown;
