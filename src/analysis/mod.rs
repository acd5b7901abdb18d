//! Exact analyses on Gaussian sources (docs/theory.md sections 3-6): time grids, samplers as affine
//! maps per eigen-direction, the exact KL of a sampler's output, optimal schedules.
//!
//! Everything here is numeric and closed-form: the output law of a sampler is propagated
//! exactly (mean and variance per eigen-direction), never estimated by sampling. A process
//! enters only through the [`Schedule`] trait, so closed-form schedules work as well.

pub(crate) mod asymptotics;
pub(crate) mod declaration;
pub mod distill;
pub mod drift;
mod exact;
pub mod flowmap;
pub(crate) mod grid;
pub mod grid_search;
pub mod hodge;
pub(crate) mod kl;
pub(crate) mod leading;
pub mod learned;
pub(crate) mod lower;
pub mod mixture;
pub mod mixture_code;
pub mod mixture_symbolic;
pub(crate) mod normal;
pub(crate) mod numerics;
pub(crate) mod optimal;
mod quadrature;
pub(crate) mod schedule;
pub(crate) mod source;
pub mod stiffness;

pub use asymptotics::{Expansion, ddim_expansion};
pub use grid::{GridKind, time_grid};
pub use grid_search::{GridSearch, max_grid_search_steps, optimal_grid};
pub use kl::{
    DirectionLaw, KL_WORK_BUDGET, Kl, KlGradient, Sampler, Start, exact_kl, exact_kl_gradient,
    exact_kl_gradient_with_workers, exact_kl_with_workers, kl_work, output_laws,
};
pub use leading::{ddim_asymptote, ddim_coefficient, schedule_j};
pub use lower::{SourceLoader, Sources, lower_sources};
pub use mixture::{Covariances, Mixture, MixtureError};
pub use optimal::{OptimalSchedule, gamma_star, optimal_schedule, tangent_coefficient};
pub use schedule::{
    Cached, OrnsteinUhlenbeck, ProcessSchedule, RectifiedFlow, Schedule, Tangent, underflowed,
};
pub use source::{GaussianSource, SourceError};
pub use stiffness::{Stiffness, StiffnessError};
