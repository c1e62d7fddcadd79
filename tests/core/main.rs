//! The decision core without any daemon around it: purity and structure,
//! and the classifier against labelled real messages.

mod diagnosis_corpus;
mod diagnosis_public;
mod diagnosis_robustness;
mod purity;
