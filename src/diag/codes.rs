//! The stable error codes, all in one place: `diffsym::<layer>::<what>`, grouped by layer.
//!
//! Codes are user-visible (README "Limits" documents `diffsym::parse::too_deep`,
//! `diffsym::lower::too_large` and `diffsym::lower::too_deep`): renaming one is a change of
//! interface. The test below checks that every code is unique, well-formed, and neither a
//! prefix of another code nor of another family.

/// Declares each code as a constant and lists them all in [`ALL`], so no code can be left out
/// of the uniqueness test.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal;)+) => {
        $($(#[doc = $doc])+ pub const $name: &str = $code;)+

        /// Every code, in declaration order.
        pub const ALL: &[&str] = &[$($name),+];
    };
}

codes! {
    // Syntax (`syntax::parse_file`, `syntax::parse_expr`).

    /// The grammar expected something else here: a missing `;`, `)` or `}`, a stray token.
    PARSE_EXPECTED = "diffsym::parse::expected";
    /// A keyword (`process`, `param`, `doc`, `assert`) where a name is expected.
    PARSE_KEYWORD = "diffsym::parse::keyword";
    /// An expression nested deeper than `syntax::MAX_DEPTH` levels (README "Limits").
    PARSE_TOO_DEEP = "diffsym::parse::too_deep";
    /// A number literal with too many digits or too large an exponent.
    PARSE_NUMBER = "diffsym::parse::number";
    /// A string with an unknown escape, or unterminated on its line.
    PARSE_STRING = "diffsym::parse::string";
    /// `a^-b^c`, which reads two ways.
    PARSE_AMBIGUOUS_POWER = "diffsym::parse::ambiguous_power";
    /// A source's data given by a function other than `file("path")`.
    PARSE_FILE_REF = "diffsym::parse::file_ref";

    // Lowering a process block (`process::lower_file`).

    /// A file with no `process` block.
    LOWER_EMPTY = "diffsym::lower::empty";
    /// A process, definition, parameter, argument or `doc` given twice.
    LOWER_DUPLICATE = "diffsym::lower::duplicate";
    /// A definition of a builtin name or of a quantity diffsym derives itself.
    LOWER_RESERVED = "diffsym::lower::reserved";
    /// A definition too large once written out (`process::MAX_LOWERED_SIZE`, README "Limits").
    LOWER_TOO_LARGE = "diffsym::lower::too_large";
    /// A definition too deep once written out (`process::MAX_LOWERED_DEPTH`, README "Limits").
    LOWER_TOO_DEEP = "diffsym::lower::too_deep";
    /// A parameter whose value depends on a variable.
    LOWER_PARAM_NOT_CONSTANT = "diffsym::lower::param_not_constant";
    /// A parameter whose value is not a real number (`log(-1)`).
    LOWER_PARAM_VALUE = "diffsym::lower::param_value";
    /// Definitions that call themselves, directly or through others.
    LOWER_RECURSIVE = "diffsym::lower::recursive";
    /// A division by an exact zero, or zero to a negative power.
    LOWER_DIVISION_BY_ZERO = "diffsym::lower::division_by_zero";
    /// A function's name used as a value, without arguments.
    LOWER_FUNCTION_AS_VALUE = "diffsym::lower::function_as_value";
    /// A name that is defined nowhere, or a variable out of scope.
    LOWER_UNDEFINED = "diffsym::lower::undefined";
    /// A `forall` variable named like `t`, a parameter, a function or a builtin.
    LOWER_SHADOW = "diffsym::lower::shadow";
    /// An end of a `forall` interval that is not a finite constant (or `inf`, `-inf`).
    LOWER_BOUND = "diffsym::lower::bound";
    /// A `forall` interval with no number in it.
    LOWER_EMPTY_INTERVAL = "diffsym::lower::interval";
    /// A call of a function that is neither builtin nor defined.
    LOWER_UNKNOWN_FUNCTION = "diffsym::lower::unknown_function";
    /// A call with the wrong number of arguments.
    LOWER_ARITY = "diffsym::lower::arity";
    /// `integrate` or `diff` given an expression where a variable name is expected.
    LOWER_VARIABLE_EXPECTED = "diffsym::lower::variable_expected";
    /// An `integrate(...)` with no closed form diffsym knows.
    LOWER_INTEGRATE = "diffsym::lower::integrate";
    /// `function` used other than as the whole body of a one-argument definition, or primes
    /// (`f'(t)`) on a name that is not a function of one argument.
    LOWER_GENERIC = "diffsym::lower::generic";

    // The process as a whole: its forms and derived quantities (`process::derive`).

    /// alpha and sigma that are not finite and >= 0 on [0, 1], as written or with the
    /// --param overrides: not a noising process.
    PROCESS_INVALID = "diffsym::process::invalid";
    /// A process that defines more of alpha, sigma and the shorthands than it may.
    PROCESS_AMBIGUOUS = "diffsym::process::ambiguous";
    /// A process that defines too little to determine alpha and sigma.
    PROCESS_UNDERDETERMINED = "diffsym::process::underdetermined";
    /// A schedule function (alpha, sigma, beta, ...) that is not a function of t alone.
    PROCESS_ARITY = "diffsym::process::arity";
    /// A `beta` whose integral has no closed form, so alpha cannot be derived from it.
    PROCESS_INTEGRATE = "diffsym::process::integrate";

    // `source` declarations, Gaussian and mixture (`analysis::lower_sources`).

    /// An unknown source family (only `gaussian` exists).
    SOURCE_KIND = "diffsym::source::kind";
    /// A missing, unknown, repeated or conflicting argument of a source.
    SOURCE_ARGUMENT = "diffsym::source::argument";
    /// A value of the wrong kind (a string for a number) or not a finite number.
    SOURCE_VALUE = "diffsym::source::value";
    /// Lists of the wrong length: an empty spectrum, a mean or a covariance row that does not
    /// match the dimension.
    SOURCE_SHAPE = "diffsym::source::shape";
    /// A covariance that is not symmetric positive definite, or a non-positive eigenvalue.
    SOURCE_COVARIANCE = "diffsym::source::covariance";
    /// A data file that cannot be read, or with a line that is not a number.
    SOURCE_FILE = "diffsym::source::file";
    /// Two sources of the same name.
    SOURCE_DUPLICATE = "diffsym::source::duplicate";

    // `error` declarations: score errors, linear or fields (`analysis::hodge::lower`).

    /// An unknown kind of error (only `linear` and `field` exist).
    ERROR_KIND = "diffsym::error::kind";
    /// A missing, unknown, repeated or misplaced argument of an error.
    ERROR_ARGUMENT = "diffsym::error::argument";
    /// An entry that is not an expression, or a list where an entry belongs.
    ERROR_VALUE = "diffsym::error::value";
    /// A matrix that is not square, a shift of the wrong length, an empty or too large error,
    /// or an error whose dimension differs from the source it is measured against.
    ERROR_SHAPE = "diffsym::error::shape";
    /// A coordinate `xk` beyond the dimension of a field.
    ERROR_VARIABLE = "diffsym::error::variable";
    /// Two errors of the same name.
    ERROR_DUPLICATE = "diffsym::error::duplicate";

    // `kernel` declarations (`analysis::drift`).

    /// An unknown kind of kernel (only `gaussian`, `laplace` and `radial` exist).
    KERNEL_KIND = "diffsym::kernel::kind";
    /// A missing, unknown or repeated argument of a kernel.
    KERNEL_ARGUMENT = "diffsym::kernel::argument";
    /// A bandwidth that is not a positive number in range, a list where a value belongs,
    /// or a profile that is not finite and positive at r = 0.
    KERNEL_VALUE = "diffsym::kernel::value";
    /// Two kernels of the same name.
    KERNEL_DUPLICATE = "diffsym::kernel::duplicate";

    // Exact analyses on Gaussian sources (`analysis`): about the command, no location.

    /// A time grid that cannot be built: fewer than 2 times, ends out of order or outside
    /// [0, 1], repeated times, a grid that needs finite values at both ends, no n-step grid
    /// between the ends.
    ANALYSIS_GRID = "diffsym::analysis::grid";
    /// A process without a quantity the analysis needs.
    ANALYSIS_PROCESS = "diffsym::analysis::process";
    /// A sampler undefined at a grid point or run on a grid that is not ascending, or a KL
    /// gradient that needs derivatives that are not finite.
    ANALYSIS_SAMPLER = "diffsym::analysis::sampler";
    /// A KL that is finite but beyond f64's range: a sampler's output law too far from the
    /// source, or a variance that only seems 0 because f64 underflowed.
    ANALYSIS_BEYOND_F64 = "diffsym::analysis::beyond_f64";
    /// A linear score error of the wrong shape or with values that are not finite, work
    /// beyond the budget of the d x d recursion, or an error bound whose integral diverges.
    ANALYSIS_SCORE_ERROR = "diffsym::analysis::score_error";
    /// An optimal schedule asked of an empty or non-positive spectrum.
    ANALYSIS_SCHEDULE = "diffsym::analysis::schedule";
    /// The leading N^-2 term of the KL (the c_2 line of `plot kl`, the schedule functional
    /// J) does not exist: wrong sampler or grid, a divergent J, a prior that is not the
    /// marginal at t_max.
    ANALYSIS_LEADING = "diffsym::analysis::leading";
    /// A Hodge decomposition or estimate that cannot be computed: values outside f64, an
    /// error that is not finite where p has mass, a degree or sample count beyond the work
    /// bound, a finite-volume solve that does not converge.
    ANALYSIS_HODGE = "diffsym::analysis::hodge";
    /// A drift spectrum that cannot be computed: --kernel naming no kernel of the file, a
    /// frequency, dimension or annealing outside its range, annealing of a kernel with no
    /// bandwidth, or a radial profile that is not finite, has no positive finite integral, or
    /// whose transform does not converge within the work bound.
    ANALYSIS_SPECTRUM = "diffsym::analysis::spectrum";
    /// A drift field that cannot be computed: p and q of different dimensions, a
    /// non-Gaussian kernel beyond dimension 3, a kernel negative or not finite where the
    /// integrals need it or vanishing where p has mass, a quadrature beyond the work bound,
    /// values outside f64.
    ANALYSIS_DRIFT = "diffsym::analysis::drift";
    /// Kernel drifting's moment flow or particle run cannot be computed: p or q a mixture,
    /// a kernel other than Gaussian where the flow needs one, dimensions that differ, a
    /// step, bias or time out of range, work beyond the bound, laws outside f64.
    ANALYSIS_MOMENT_FLOW = "diffsym::analysis::moment_flow";

    // The expansion of the KL in 1/N (`analysis::asymptotics`, `diffsym asymptotics`).

    /// An --order out of range, or beyond the terms the endpoint series provide.
    ASYMPTOTICS_ORDER = "diffsym::asymptotics::order";
    /// A process without the derived alpha and rho the expansion is built from.
    ASYMPTOTICS_PROCESS = "diffsym::asymptotics::process";
    /// A process whose marginal at t = 1 is not the prior N(0, I) the expansion starts from.
    ASYMPTOTICS_PRIOR = "diffsym::asymptotics::prior";
    /// A source with no eigenvalues or a non-positive one.
    ASYMPTOTICS_SOURCE = "diffsym::asymptotics::source";
    /// A coefficient or boundary term that cannot be evaluated.
    ASYMPTOTICS_EVALUATE = "diffsym::asymptotics::evaluate";
    /// An endpoint where the schedule is not a power series in a root of the distance, or
    /// where a boundary term is not finite.
    ASYMPTOTICS_ENDPOINT = "diffsym::asymptotics::endpoint";
    /// An integral of the expansion that cannot be evaluated or is not finite.
    ASYMPTOTICS_QUADRATURE = "diffsym::asymptotics::quadrature";

    // Code generation (`codegen`, `diffsym emit`).

    /// A process or function name that cannot be a Rust identifier.
    EMIT_IDENT = "diffsym::emit::ident";
    /// A formula that cannot be lowered to straight-line f64 code.
    EMIT_LOWER = "diffsym::emit::lower";
    /// A process whose alpha or sigma holds a named integral (an integral with no closed
    /// form): generated code has no quadrature.
    EMIT_INTEGRAL = "diffsym::emit::integral";
    /// A bug in diffsym's code generation (a template or generated code that does not parse).
    EMIT_INTERNAL = "diffsym::emit::internal";
    /// A mixture too large for `emit --source` (constants in the module, reference work).
    EMIT_MIXTURE = "diffsym::emit::mixture";

    // `diffsym emit --verify`: compiling and running the emitted code (`codegen::rustc`).

    /// rustc cannot be started.
    VERIFY_RUSTC = "diffsym::verify::rustc";
    /// The emitted module does not compile.
    VERIFY_COMPILE = "diffsym::verify::compile";
    /// The verification program fails or prints something unexpected.
    VERIFY_RUN = "diffsym::verify::run";
    /// The temporary directory of the verification build cannot be written.
    VERIFY_TEMP_DIR = "diffsym::verify::temp_dir";

    // `diffsym eval`: the value of a formula at a point.

    /// No value at the point: undefined there, tends to an infinity, one-sided limits differ,
    /// or nothing can be certified.
    EVAL_NO_VALUE = "diffsym::eval::no_value";
    /// A finite value outside the range of f64 (`--digits` prints it).
    EVAL_RANGE = "diffsym::eval::range";
    /// A point with no value at more digits than limits are computed to.
    EVAL_DIGITS = "diffsym::eval::digits";

    // Command-line arguments (`cli`): about the command, no location except in a grid file.

    /// A bad --t, --t-min or --t-max, or one outside [0, 1].
    CLI_T = "diffsym::cli::t";
    /// A command that computes numbers given a generic process (`alpha(t) = function;`).
    CLI_GENERIC = "diffsym::cli::generic";
    /// A bad or missing --steps, or more steps than the work allowance accepts.
    CLI_STEPS = "diffsym::cli::steps";
    /// A grid file whose times are not exact numbers in [0, 1].
    CLI_GRID = "diffsym::cli::grid";
    /// A bad --param, or one that names no parameter.
    CLI_PARAM = "diffsym::cli::param";
    /// No process of that name, none at all, several to choose from, or --process and
    /// --steps given without each other.
    CLI_PROCESS = "diffsym::cli::process";
    /// No source of that name in the file.
    CLI_SOURCE = "diffsym::cli::source";
    /// A sampler the command has no result for.
    CLI_SAMPLER = "diffsym::cli::sampler";
    /// A quantity `eval` cannot evaluate: undefined, or not a function of t alone.
    CLI_QUANTITY = "diffsym::cli::quantity";
    /// A field `eval` cannot evaluate: model outputs (`--score`, `--eps`, ...) or inputs
    /// missing, several, or malformed, or a parameterisation the process does not have.
    CLI_FIELD = "diffsym::cli::field";
    /// An `--at` point (or a line of a points file) that is not d finite numbers, or more
    /// points than the command accepts.
    CLI_AT = "diffsym::cli::at";
    /// `--kernel` names no kernel of the file.
    CLI_KERNEL = "diffsym::cli::kernel";
    /// `--error` names no error of the file.
    CLI_ERROR = "diffsym::cli::error";
    /// Flags that do not fit the input, e.g. a finite-volume solve outside dimension 2.
    CLI_USAGE = "diffsym::cli::usage";

    // Files (`cli`).

    /// A file that cannot be read.
    IO_READ = "diffsym::io::read";
    /// A file that is not valid UTF-8 (located at the first invalid byte).
    IO_UTF8 = "diffsym::io::utf8";
    /// An output file or directory that cannot be written.
    IO_WRITE = "diffsym::io::write";

    // `diffsym plot`.

    /// A figure with no panel, or a panel with no point that can be drawn.
    PLOT_EMPTY = "diffsym::plot::empty";
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// `diffsym::<layer>::<what>` with lowercase snake_case segments.
    fn well_formed(code: &str) -> bool {
        let segments: Vec<&str> = code.split("::").collect();
        segments.len() == 3
            && segments[0] == "diffsym"
            && segments.iter().all(|s| {
                s.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !s.ends_with('_')
                    && !s.contains("__")
            })
    }

    #[test]
    fn every_code_is_unique_and_well_formed() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(well_formed(a), "`{a}` is not diffsym::layer::snake_case");
            for b in &ALL[i + 1..] {
                assert_ne!(a, b, "`{a}` is declared twice");
            }
        }
    }

    #[test]
    fn no_code_or_family_is_a_prefix_of_another() {
        let family = |c: &str| c.rsplit_once("::").map_or("", |(f, _)| f).to_owned();
        for a in ALL {
            for b in ALL {
                if a == b {
                    continue;
                }
                assert!(!b.starts_with(a), "`{a}` is a prefix of `{b}`");
                let (fa, fb) = (family(a), family(b));
                assert!(
                    fa == fb || !fb.starts_with(&fa),
                    "family `{fa}` is a prefix of family `{fb}` (`{a}`, `{b}`)"
                );
            }
        }
    }

    #[test]
    fn the_codes_the_readme_documents_are_unchanged() {
        for code in [
            "diffsym::parse::too_deep",
            "diffsym::lower::too_large",
            "diffsym::lower::too_deep",
        ] {
            assert!(ALL.contains(&code), "`{code}` is documented in README.md");
        }
    }
}
