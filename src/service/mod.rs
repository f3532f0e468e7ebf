//! The workflows, called alike by routes, the command line, the demo and tests. (Most still live
//! in `src/routes/`; issue 14 moves them here.)

pub mod accounts;
