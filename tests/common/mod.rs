#![allow(dead_code)]

pub mod ferry;
pub mod hosts;
