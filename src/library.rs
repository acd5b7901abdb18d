//! The bundled library: the processes of `derivations/*.dsym`, embedded in the binary.
//!
//! `derive` and `check` run on it when given no file; the analyses look a process up here
//! when the file they read does not define it.

/// The bundled library: `derivations/*.dsym`, embedded in the binary.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "derivations/cosine.dsym",
        include_str!("../derivations/cosine.dsym"),
    ),
    (
        "derivations/cosine_nichol.dsym",
        include_str!("../derivations/cosine_nichol.dsym"),
    ),
    (
        "derivations/edm.dsym",
        include_str!("../derivations/edm.dsym"),
    ),
    (
        "derivations/gaussian_alpha_bar.dsym",
        include_str!("../derivations/gaussian_alpha_bar.dsym"),
    ),
    (
        "derivations/karras_ve.dsym",
        include_str!("../derivations/karras_ve.dsym"),
    ),
    (
        "derivations/linear_logsnr.dsym",
        include_str!("../derivations/linear_logsnr.dsym"),
    ),
    (
        "derivations/lm_sqrt.dsym",
        include_str!("../derivations/lm_sqrt.dsym"),
    ),
    (
        "derivations/rectified_flow.dsym",
        include_str!("../derivations/rectified_flow.dsym"),
    ),
    (
        "derivations/sd3_shift.dsym",
        include_str!("../derivations/sd3_shift.dsym"),
    ),
    (
        "derivations/sd_scaled_linear.dsym",
        include_str!("../derivations/sd_scaled_linear.dsym"),
    ),
    (
        "derivations/shifted_cosine.dsym",
        include_str!("../derivations/shifted_cosine.dsym"),
    ),
    (
        "derivations/sigmoid.dsym",
        include_str!("../derivations/sigmoid.dsym"),
    ),
    (
        "derivations/sub_vp.dsym",
        include_str!("../derivations/sub_vp.dsym"),
    ),
    (
        "derivations/tangent.dsym",
        include_str!("../derivations/tangent.dsym"),
    ),
    (
        "derivations/ve.dsym",
        include_str!("../derivations/ve.dsym"),
    ),
    (
        "derivations/vp_linear.dsym",
        include_str!("../derivations/vp_linear.dsym"),
    ),
];

/// The files of `derivations/` that are not part of the bundled library: theorems over
/// generic processes (`alpha(t) = function;`), which `diffsym check FILE` proves. They
/// define no schedule an analysis could run on.
pub const THEOREMS: &[&str] = &["derivations/tutorial.dsym"];

/// The names of the bundled processes (one per file, named after it).
pub fn names() -> Vec<&'static str> {
    BUNDLED
        .iter()
        .filter_map(|(file, _)| file.strip_prefix("derivations/")?.strip_suffix(".dsym"))
        .collect()
}
