//! Helmholtz-Hodge geometry of score errors (MATH.md sections 7 and 9): the gradient part of an error, by a Stein estimator and by a finite-volume reference in 2-D.
pub mod estimate;
pub mod poisson;
