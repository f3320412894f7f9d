//! Promotion gates: small boolean expressions over model metrics that must
//! hold before a model version may take an alias (`sluice promote NAME
//! VERSION --alias production`).
//!
//! ```text
//! gate = "f1 >= 0.85 and f1 >= production.f1 - 0.01"
//! ```
//!
//! # Grammar
//!
//! ```text
//! gate       := or
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not" not | comparison
//! comparison := sum (op sum)?            op: >= > <= < == !=
//! sum        := product (("+" | "-") product)*
//! product    := unary (("*" | "/") unary)*
//! unary      := "-" unary | atom
//! atom       := number | name | "(" or ")"
//! ```
//!
//! Keywords are case-insensitive. Numbers are decimal (`0.85`, `1e-3`).
//! Names start with a letter or `_` and may contain letters, digits, `_`
//! and `.`. A name whose first dotted segment is one of the aliases the
//! caller passes to [`Gate::parse`] (e.g. `production.f1`) refers to that
//! metric of the version currently holding the alias; every other name
//! (`f1`, `roc_auc`, `gap.f1`) is a metric of the candidate version.
//! Comparisons cannot be chained (`0.8 < f1 < 0.9` is an error: write
//! `0.8 < f1 and f1 < 0.9`), and the whole gate must be a condition, not a
//! bare number.
//!
//! # Evaluation semantics
//!
//! - A metric the candidate does not have is an error naming it: a gate
//!   cannot be judged on missing evidence.
//! - A metric missing from the version that holds an alias is also an
//!   error, for the same reason.
//! - A comparison that references an alias no version holds yet (the first
//!   promotion to `production`) is *skipped*: it is reported as skipped, and
//!   logically behaves as if it were absent — `a and skipped` is `a`,
//!   `a or skipped` is `a`, `not skipped` is skipped. A top-level term that
//!   is entirely skipped neither passes nor fails the gate.
//! - Any comparison involving NaN fails (including `!=`), so a broken
//!   metric never lets a model through a plain comparison. `not` inverts
//!   that failure like any other, so write `f1 <= 0.5` rather than
//!   `not f1 > 0.5`. Division by zero follows IEEE (±inf, or NaN for
//!   `0/0`).
//! - Every comparison is evaluated (no short-circuit), so the outcome shows
//!   all values and a missing metric is reported even behind an `or`.
//!
//! The [`GateOutcome`] lists every top-level `and` term with its status and
//! the values on each side; [`GateOutcome::passed`] says whether the gate
//! holds, and the `Display` of [`GateOutcome::first_failure`] is the refusal
//! message, e.g. `f1 >= production.f1 - 0.01: 0.84 >= 0.8612 failed`.

use std::fmt;

use thiserror::Error;

/// Why a gate could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GateError {
    /// The gate text is malformed; `column` is 1-based, in characters.
    #[error("at column {column}: {message}")]
    Syntax { column: usize, message: String },
    /// The candidate version has no such metric.
    #[error("the candidate has no metric `{metric}`")]
    MissingCandidateMetric { metric: String },
    /// The version holding `alias` has no such metric.
    #[error("the version holding `{alias}` has no metric `{metric}`")]
    MissingAliasMetric { alias: String, metric: String },
}

/// What a [`MetricLookup`] knows about one metric reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup {
    Value(f64),
    /// No version holds the alias (yet).
    NoSuchAlias,
    /// The version exists but has no metric of that name.
    NoSuchMetric,
}

/// Answers metric values for gate evaluation: `alias` is `None` for the
/// candidate version, otherwise the alias named in the gate.
pub trait MetricLookup {
    fn lookup(&self, alias: Option<&str>, metric: &str) -> Lookup;
}

impl<F> MetricLookup for F
where
    F: Fn(Option<&str>, &str) -> Lookup,
{
    fn lookup(&self, alias: Option<&str>, metric: &str) -> Lookup {
        self(alias, metric)
    }
}

/// A metric named in a gate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricRef {
    /// `None` means the candidate version.
    pub alias: Option<String>,
    pub metric: String,
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "{alias}.{}", self.metric),
            None => f.write_str(&self.metric),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Ge => ">=",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Lt => "<",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        // Explicit so that `NaN != x` fails too.
        if left.is_nan() || right.is_nan() {
            return false;
        }
        match self {
            CompareOp::Ge => left >= right,
            CompareOp::Gt => left > right,
            CompareOp::Le => left <= right,
            CompareOp::Lt => left < right,
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum NumExpr {
    Literal(f64),
    Metric(MetricRef),
    Neg(Box<NumExpr>),
    Binary(Box<NumExpr>, ArithOp, Box<NumExpr>),
}

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    text: String,
    left: NumExpr,
    op: CompareOp,
    right: NumExpr,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Compare(Comparison),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    text: String,
    condition: Condition,
}

/// A parsed promotion gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    source: String,
    terms: Vec<Term>,
}

impl Gate {
    /// Parses `source`; names whose first dotted segment is in
    /// `known_aliases` refer to the version holding that alias.
    pub fn parse(source: &str, known_aliases: &[&str]) -> Result<Gate, GateError> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            source,
            tokens,
            position: 0,
            known_aliases,
        };
        // Top-level `and` operands are reported one by one; anything else
        // (an `or`, a `not`, a single comparison) is a single term.
        let operands = parser.parse_and_operands()?;
        let terms = if operands.len() > 1 && parser.peek().kind != TokenKind::Or {
            parser.expect_end()?;
            operands
                .into_iter()
                .map(|operand| {
                    let operand = parser
                        .expect_condition(operand, "`and` needs comparisons on both sides")?;
                    Ok(parser.term(operand))
                })
                .collect::<Result<Vec<_>, GateError>>()?
        } else {
            let first = parser.fold_and(operands)?;
            let root = parser.parse_or_rest(first)?;
            parser.expect_end()?;
            let root = parser.expect_condition(root, "the gate must be a comparison")?;
            vec![parser.term(root)]
        };
        Ok(Gate {
            source: source.to_owned(),
            terms,
        })
    }

    /// The gate as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text of each top-level `and` term, in order.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|term| term.text.as_str())
    }

    /// Every metric the gate reads, sorted and without duplicates (useful to
    /// prefetch values or to validate a gate against a model's metrics).
    pub fn referenced_metrics(&self) -> Vec<MetricRef> {
        fn collect_num(expr: &NumExpr, out: &mut Vec<MetricRef>) {
            match expr {
                NumExpr::Literal(_) => {}
                NumExpr::Metric(metric) => out.push(metric.clone()),
                NumExpr::Neg(inner) => collect_num(inner, out),
                NumExpr::Binary(left, _, right) => {
                    collect_num(left, out);
                    collect_num(right, out);
                }
            }
        }
        fn collect_condition(condition: &Condition, out: &mut Vec<MetricRef>) {
            match condition {
                Condition::Compare(comparison) => {
                    collect_num(&comparison.left, out);
                    collect_num(&comparison.right, out);
                }
                Condition::And(items) | Condition::Or(items) => {
                    items.iter().for_each(|item| collect_condition(item, out))
                }
                Condition::Not(inner) => collect_condition(inner, out),
            }
        }
        let mut metrics = Vec::new();
        for term in &self.terms {
            collect_condition(&term.condition, &mut metrics);
        }
        metrics.sort();
        metrics.dedup();
        metrics
    }

    /// Evaluates the gate against the candidate's (and aliases') metrics.
    pub fn evaluate(&self, metrics: &dyn MetricLookup) -> Result<GateOutcome, GateError> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for term in &self.terms {
            let mut comparisons = Vec::new();
            let status = evaluate_condition(&term.condition, metrics, &mut comparisons)?;
            terms.push(TermOutcome {
                text: term.text.clone(),
                status,
                comparisons,
            });
        }
        Ok(GateOutcome { terms })
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Result of a term or a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermStatus {
    Passed,
    Failed,
    /// Referenced an alias that no version holds yet.
    Skipped,
}

impl fmt::Display for TermStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TermStatus::Passed => "passed",
            TermStatus::Failed => "failed",
            TermStatus::Skipped => "skipped",
        })
    }
}

/// One comparison as evaluated. A side is `None` when it depends on an
/// alias no version holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonOutcome {
    pub text: String,
    pub left: Option<f64>,
    pub op: CompareOp,
    pub right: Option<f64>,
    pub status: TermStatus,
    /// The unheld aliases that caused a skip, sorted.
    pub missing_aliases: Vec<String>,
}

impl ComparisonOutcome {
    /// `0.84 >= 0.8612 failed`, without the comparison's text.
    fn write_values(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (left, right) = format_pair(self.left, self.right);
        write!(f, "{left} {} {right} {}", self.op, self.status)?;
        if !self.missing_aliases.is_empty() {
            let aliases: Vec<String> = self
                .missing_aliases
                .iter()
                .map(|alias| format!("`{alias}`"))
                .collect();
            write!(f, " (no version holds {} yet)", aliases.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for ComparisonOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.text)?;
        self.write_values(f)
    }
}

/// One top-level `and` term of a gate, as evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct TermOutcome {
    /// The term as written in the gate.
    pub text: String,
    pub status: TermStatus,
    /// Every comparison inside the term, in source order.
    pub comparisons: Vec<ComparisonOutcome>,
}

impl fmt::Display for TermOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A lone comparison (possibly in parentheses) reads best inline.
        if let [only] = self.comparisons.as_slice()
            && only.status == self.status
        {
            // The term text keeps its parentheses, unlike `only.text`.
            write!(f, "{}: ", self.text)?;
            return only.write_values(f);
        }
        write!(f, "{}: {}", self.text, self.status)?;
        let parts: Vec<String> = self.comparisons.iter().map(|c| c.to_string()).collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join("; "))?;
        }
        Ok(())
    }
}

/// The result of evaluating a gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOutcome {
    /// Every top-level `and` term, in source order.
    pub terms: Vec<TermOutcome>,
}

impl GateOutcome {
    /// True when no term failed (skipped terms do not fail the gate).
    pub fn passed(&self) -> bool {
        self.terms
            .iter()
            .all(|term| term.status != TermStatus::Failed)
    }

    /// The first failing term; its `Display` is the refusal message.
    pub fn first_failure(&self) -> Option<&TermOutcome> {
        self.terms
            .iter()
            .find(|term| term.status == TermStatus::Failed)
    }

    /// Terms skipped because an alias is not held yet.
    pub fn skipped(&self) -> impl Iterator<Item = &TermOutcome> {
        self.terms
            .iter()
            .filter(|term| term.status == TermStatus::Skipped)
    }
}

impl fmt::Display for GateOutcome {
    /// One line per term.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, term) in self.terms.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- evaluation

/// A number, or "unknown because these aliases are not held".
enum Evaluated {
    Known(f64),
    Unheld(Vec<String>),
}

fn evaluate_num(expr: &NumExpr, metrics: &dyn MetricLookup) -> Result<Evaluated, GateError> {
    Ok(match expr {
        NumExpr::Literal(value) => Evaluated::Known(*value),
        NumExpr::Metric(reference) => {
            let alias = reference.alias.as_deref();
            match (metrics.lookup(alias, &reference.metric), alias) {
                (Lookup::Value(value), _) => Evaluated::Known(value),
                (Lookup::NoSuchAlias, Some(alias)) => Evaluated::Unheld(vec![alias.to_owned()]),
                // The candidate always exists, so "no alias" there can only
                // mean the metric is missing.
                (Lookup::NoSuchAlias | Lookup::NoSuchMetric, None) => {
                    return Err(GateError::MissingCandidateMetric {
                        metric: reference.metric.clone(),
                    });
                }
                (Lookup::NoSuchMetric, Some(alias)) => {
                    return Err(GateError::MissingAliasMetric {
                        alias: alias.to_owned(),
                        metric: reference.metric.clone(),
                    });
                }
            }
        }
        NumExpr::Neg(inner) => match evaluate_num(inner, metrics)? {
            Evaluated::Known(value) => Evaluated::Known(-value),
            unheld => unheld,
        },
        NumExpr::Binary(left, op, right) => {
            // Both sides first, so a missing metric on the right is still
            // reported when the left is unheld.
            let left = evaluate_num(left, metrics)?;
            let right = evaluate_num(right, metrics)?;
            match (left, right) {
                (Evaluated::Known(l), Evaluated::Known(r)) => Evaluated::Known(match op {
                    ArithOp::Add => l + r,
                    ArithOp::Sub => l - r,
                    ArithOp::Mul => l * r,
                    ArithOp::Div => l / r,
                }),
                (Evaluated::Unheld(mut a), Evaluated::Unheld(b)) => {
                    a.extend(b);
                    Evaluated::Unheld(a)
                }
                (unheld @ Evaluated::Unheld(_), _) | (_, unheld @ Evaluated::Unheld(_)) => unheld,
            }
        }
    })
}

fn evaluate_condition(
    condition: &Condition,
    metrics: &dyn MetricLookup,
    comparisons: &mut Vec<ComparisonOutcome>,
) -> Result<TermStatus, GateError> {
    Ok(match condition {
        Condition::Compare(comparison) => {
            let left = evaluate_num(&comparison.left, metrics)?;
            let right = evaluate_num(&comparison.right, metrics)?;
            let mut missing_aliases = Vec::new();
            let mut known = |side: Evaluated| match side {
                Evaluated::Known(value) => Some(value),
                Evaluated::Unheld(aliases) => {
                    missing_aliases.extend(aliases);
                    None
                }
            };
            let (left, right) = (known(left), known(right));
            missing_aliases.sort();
            missing_aliases.dedup();
            let status = match (left, right) {
                (Some(l), Some(r)) if comparison.op.holds(l, r) => TermStatus::Passed,
                (Some(_), Some(_)) => TermStatus::Failed,
                _ => TermStatus::Skipped,
            };
            comparisons.push(ComparisonOutcome {
                text: comparison.text.clone(),
                left,
                op: comparison.op,
                right,
                status,
                missing_aliases,
            });
            status
        }
        Condition::Not(inner) => match evaluate_condition(inner, metrics, comparisons)? {
            TermStatus::Passed => TermStatus::Failed,
            TermStatus::Failed => TermStatus::Passed,
            TermStatus::Skipped => TermStatus::Skipped,
        },
        Condition::And(items) | Condition::Or(items) => {
            let is_and = matches!(condition, Condition::And(_));
            let mut statuses = Vec::with_capacity(items.len());
            for item in items {
                statuses.push(evaluate_condition(item, metrics, comparisons)?);
            }
            // Skipped operands are dropped; all skipped means skipped.
            let decided: Vec<bool> = statuses
                .iter()
                .filter(|status| **status != TermStatus::Skipped)
                .map(|status| *status == TermStatus::Passed)
                .collect();
            if decided.is_empty() {
                TermStatus::Skipped
            } else if (is_and && decided.iter().all(|passed| *passed))
                || (!is_and && decided.iter().any(|passed| *passed))
            {
                TermStatus::Passed
            } else {
                TermStatus::Failed
            }
        }
    })
}

/// Formats both sides with the fewest significant digits (at least 4) that
/// still show they differ, so `0.8612` is not printed as
/// `0.8612000000000001` yet `0.85` vs `0.8499999` never reads as equal.
fn format_pair(left: Option<f64>, right: Option<f64>) -> (String, String) {
    let render = |value: Option<f64>, digits: usize| match value {
        None => "?".to_owned(),
        Some(value) => format_significant(value, digits),
    };
    for digits in 4..=17 {
        let (l, r) = (render(left, digits), render(right, digits));
        let values_differ = matches!((left, right), (Some(a), Some(b)) if a != b);
        if l != r || !values_differ {
            return (l, r);
        }
    }
    (render(left, 17), render(right, 17))
}

fn format_significant(value: f64, digits: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        return format!("{:.*e}", digits.saturating_sub(1), value);
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

// ------------------------------------------------------------------ lexing

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Number(f64),
    Name(String),
    And,
    Or,
    Not,
    Compare(CompareOp),
    Plus,
    Minus,
    Star,
    Slash,
    OpenParen,
    CloseParen,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// Byte offsets into the source.
    start: usize,
    end: usize,
    /// 1-based character column of `start`.
    column: usize,
}

fn tokenize(source: &str) -> Result<Vec<Token>, GateError> {
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let byte_at = |index: usize| chars.get(index).map_or(source.len(), |(byte, _)| *byte);
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let (start, c) = chars[index];
        let column = index + 1;
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        let next = chars.get(index + 1).map(|(_, c)| *c);
        let mut push = |kind, length: usize| {
            tokens.push(Token {
                kind,
                start,
                end: byte_at(index + length),
                column,
            });
            length
        };
        let length = match (c, next) {
            ('>', Some('=')) => push(TokenKind::Compare(CompareOp::Ge), 2),
            ('<', Some('=')) => push(TokenKind::Compare(CompareOp::Le), 2),
            ('=', Some('=')) => push(TokenKind::Compare(CompareOp::Eq), 2),
            ('!', Some('=')) => push(TokenKind::Compare(CompareOp::Ne), 2),
            ('>', _) => push(TokenKind::Compare(CompareOp::Gt), 1),
            ('<', _) => push(TokenKind::Compare(CompareOp::Lt), 1),
            ('+', _) => push(TokenKind::Plus, 1),
            ('-', _) => push(TokenKind::Minus, 1),
            ('*', _) => push(TokenKind::Star, 1),
            ('/', _) => push(TokenKind::Slash, 1),
            ('(', _) => push(TokenKind::OpenParen, 1),
            (')', _) => push(TokenKind::CloseParen, 1),
            ('=', _) => return Err(syntax(column, "`=` is not an operator; use `==`")),
            ('!', _) => return Err(syntax(column, "`!` is not an operator; use `not` or `!=`")),
            ('&', Some('&')) => return Err(syntax(column, "use `and` instead of `&&`")),
            ('|', Some('|')) => return Err(syntax(column, "use `or` instead of `||`")),
            (c, _) if c.is_ascii_digit() => {
                let length = number_length(&chars[index..]);
                let text = &source[start..byte_at(index + length)];
                let value = text
                    .parse::<f64>()
                    .map_err(|_| syntax(column, format!("`{text}` is not a valid number")))?;
                push(TokenKind::Number(value), length)
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let length = chars[index..]
                    .iter()
                    .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
                    .count();
                let text = &source[start..byte_at(index + length)];
                if text.ends_with('.') || text.contains("..") {
                    return Err(syntax(
                        column,
                        format!("`{text}` is not a valid metric name (empty part between dots)"),
                    ));
                }
                let kind = match text.to_ascii_lowercase().as_str() {
                    "and" => TokenKind::And,
                    "or" => TokenKind::Or,
                    "not" => TokenKind::Not,
                    _ => TokenKind::Name(text.to_owned()),
                };
                push(kind, length)
            }
            (c, _) => return Err(syntax(column, format!("unexpected character `{c}`"))),
        };
        index += length;
    }
    tokens.push(Token {
        kind: TokenKind::End,
        start: source.len(),
        end: source.len(),
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// Length in chars of a decimal literal: digits, optional fraction,
/// optional exponent (only taken when digits follow it).
fn number_length(chars: &[(usize, char)]) -> usize {
    let digits_from = |from: usize| {
        chars[from.min(chars.len())..]
            .iter()
            .take_while(|(_, c)| c.is_ascii_digit())
            .count()
    };
    let mut length = digits_from(0);
    if chars.get(length).map(|(_, c)| *c) == Some('.') {
        let fraction = digits_from(length + 1);
        if fraction > 0 {
            length += 1 + fraction;
        }
    }
    if matches!(chars.get(length).map(|(_, c)| *c), Some('e' | 'E')) {
        let sign = usize::from(matches!(
            chars.get(length + 1).map(|(_, c)| *c),
            Some('+' | '-')
        ));
        let exponent = digits_from(length + 1 + sign);
        if exponent > 0 {
            length += 1 + sign + exponent;
        }
    }
    length
}

fn syntax(column: usize, message: impl Into<String>) -> GateError {
    GateError::Syntax {
        column,
        message: message.into(),
    }
}

// ------------------------------------------------------------------ parsing

/// A parsed sub-expression with its byte span in the source.
struct Spanned<T> {
    value: T,
    span: (usize, usize),
    column: usize,
}

/// Expressions are parsed untyped (a `(` may open either a number or a
/// condition) and checked where they are combined.
enum Expr {
    Num(NumExpr),
    Condition(Condition),
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    position: usize,
    known_aliases: &'a [&'a str],
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens[self.position].clone()
    }

    fn advance(&mut self) -> Token {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.position += 1;
        }
        token
    }

    fn describe(&self, token: &Token) -> String {
        match token.kind {
            TokenKind::End => "the end of the gate".to_owned(),
            _ => format!("`{}`", &self.source[token.start..token.end]),
        }
    }

    fn unexpected(&self, token: Token, expected: &str) -> GateError {
        syntax(
            token.column,
            format!("expected {expected}, found {}", self.describe(&token)),
        )
    }

    fn expect_end(&self) -> Result<(), GateError> {
        let end = self.peek();
        if end.kind == TokenKind::End {
            Ok(())
        } else {
            Err(self.unexpected(end, "`and`, `or` or the end of the gate"))
        }
    }

    fn term(&self, condition: Spanned<Condition>) -> Term {
        Term {
            text: self.source[condition.span.0..condition.span.1].to_owned(),
            condition: condition.value,
        }
    }

    fn parse_or(&mut self) -> Result<Spanned<Expr>, GateError> {
        let first = self.parse_and()?;
        self.parse_or_rest(first)
    }

    /// Continues an `or` chain whose first operand is already parsed.
    fn parse_or_rest(&mut self, first: Spanned<Expr>) -> Result<Spanned<Expr>, GateError> {
        if self.peek().kind != TokenKind::Or {
            return Ok(first);
        }
        let (start, column) = (first.span.0, first.column);
        let mut items = vec![self.expect_condition(first, "`or` needs a comparison on its left")?];
        while self.peek().kind == TokenKind::Or {
            self.advance();
            let next = self.parse_and()?;
            items.push(self.expect_condition(next, "`or` needs a comparison on its right")?);
        }
        let end = items.last().map_or(start, |item| item.span.1);
        Ok(Spanned {
            value: Expr::Condition(Condition::Or(
                items.into_iter().map(|item| item.value).collect(),
            )),
            span: (start, end),
            column,
        })
    }

    fn parse_and(&mut self) -> Result<Spanned<Expr>, GateError> {
        let operands = self.parse_and_operands()?;
        self.fold_and(operands)
    }

    /// The operands of an `and` chain (just one when there is no `and`).
    fn parse_and_operands(&mut self) -> Result<Vec<Spanned<Expr>>, GateError> {
        let mut operands = vec![self.parse_not()?];
        while self.peek().kind == TokenKind::And {
            self.advance();
            operands.push(self.parse_not()?);
        }
        Ok(operands)
    }

    fn fold_and(&self, mut operands: Vec<Spanned<Expr>>) -> Result<Spanned<Expr>, GateError> {
        if operands.len() == 1 {
            return Ok(operands.remove(0));
        }
        let (start, column) = (operands[0].span.0, operands[0].column);
        let end = operands.last().map_or(start, |operand| operand.span.1);
        let conditions = operands
            .into_iter()
            .map(|operand| {
                self.expect_condition(operand, "`and` needs comparisons on both sides")
                    .map(|condition| condition.value)
            })
            .collect::<Result<Vec<_>, GateError>>()?;
        Ok(Spanned {
            value: Expr::Condition(Condition::And(conditions)),
            span: (start, end),
            column,
        })
    }

    fn parse_not(&mut self) -> Result<Spanned<Expr>, GateError> {
        let token = self.peek();
        if token.kind != TokenKind::Not {
            return self.parse_comparison();
        }
        self.advance();
        let operand = self.parse_not()?;
        let operand = self.expect_condition(operand, "`not` needs a comparison after it")?;
        Ok(Spanned {
            span: (token.start, operand.span.1),
            value: Expr::Condition(Condition::Not(Box::new(operand.value))),
            column: token.column,
        })
    }

    fn parse_comparison(&mut self) -> Result<Spanned<Expr>, GateError> {
        let left = self.parse_sum()?;
        let TokenKind::Compare(op) = self.peek().kind else {
            return Ok(left);
        };
        self.advance();
        let left = self.expect_number(left, &format!("`{op}` compares numbers"))?;
        let right = self.parse_sum()?;
        let right = self.expect_number(right, &format!("`{op}` compares numbers"))?;
        let next = self.peek();
        if let TokenKind::Compare(_) = next.kind {
            return Err(syntax(
                next.column,
                format!(
                    "comparisons cannot be chained; combine them with `and` (after `{}`)",
                    &self.source[left.span.0..right.span.1]
                ),
            ));
        }
        let span = (left.span.0, right.span.1);
        Ok(Spanned {
            value: Expr::Condition(Condition::Compare(Comparison {
                text: self.source[span.0..span.1].to_owned(),
                left: left.value,
                op,
                right: right.value,
            })),
            span,
            column: left.column,
        })
    }

    fn parse_sum(&mut self) -> Result<Spanned<Expr>, GateError> {
        let mut left = self.parse_product()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Plus => ArithOp::Add,
                TokenKind::Minus => ArithOp::Sub,
                _ => return Ok(left),
            };
            let symbol = self.advance();
            left = self.combine(left, op, &symbol, Self::parse_product)?;
        }
    }

    fn parse_product(&mut self) -> Result<Spanned<Expr>, GateError> {
        let mut left = self.parse_unary()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Star => ArithOp::Mul,
                TokenKind::Slash => ArithOp::Div,
                _ => return Ok(left),
            };
            let symbol = self.advance();
            left = self.combine(left, op, &symbol, Self::parse_unary)?;
        }
    }

    fn combine(
        &mut self,
        left: Spanned<Expr>,
        op: ArithOp,
        symbol: &Token,
        parse_right: fn(&mut Self) -> Result<Spanned<Expr>, GateError>,
    ) -> Result<Spanned<Expr>, GateError> {
        let symbol = &self.source[symbol.start..symbol.end];
        let left = self.expect_number(left, &format!("`{symbol}` needs numbers"))?;
        let right = parse_right(self)?;
        let right = self.expect_number(right, &format!("`{symbol}` needs numbers"))?;
        Ok(Spanned {
            span: (left.span.0, right.span.1),
            column: left.column,
            value: Expr::Num(NumExpr::Binary(
                Box::new(left.value),
                op,
                Box::new(right.value),
            )),
        })
    }

    fn parse_unary(&mut self) -> Result<Spanned<Expr>, GateError> {
        let token = self.peek();
        if token.kind != TokenKind::Minus {
            return self.parse_atom();
        }
        self.advance();
        let operand = self.parse_unary()?;
        let operand = self.expect_number(operand, "unary `-` needs a number")?;
        Ok(Spanned {
            span: (token.start, operand.span.1),
            column: token.column,
            value: Expr::Num(NumExpr::Neg(Box::new(operand.value))),
        })
    }

    fn parse_atom(&mut self) -> Result<Spanned<Expr>, GateError> {
        let token = self.advance();
        let value = match &token.kind {
            TokenKind::Number(value) => Expr::Num(NumExpr::Literal(*value)),
            TokenKind::Name(name) => Expr::Num(NumExpr::Metric(self.metric_ref(name, &token)?)),
            TokenKind::OpenParen => {
                // Parentheses may hold a number or a whole condition.
                let inner = self.parse_or()?;
                let close = self.peek();
                if close.kind != TokenKind::CloseParen {
                    return Err(self.unexpected(close, "`)`"));
                }
                self.advance();
                return Ok(Spanned {
                    value: inner.value,
                    span: (token.start, close.end),
                    column: token.column,
                });
            }
            _ => return Err(self.unexpected(token, "a number or metric name")),
        };
        Ok(Spanned {
            value,
            span: (token.start, token.end),
            column: token.column,
        })
    }

    fn metric_ref(&self, name: &str, token: &Token) -> Result<MetricRef, GateError> {
        let (first, rest) = match name.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (name, None),
        };
        if !self.known_aliases.contains(&first) {
            return Ok(MetricRef {
                alias: None,
                metric: name.to_owned(),
            });
        }
        match rest {
            Some(metric) => Ok(MetricRef {
                alias: Some(first.to_owned()),
                metric: metric.to_owned(),
            }),
            None => Err(syntax(
                token.column,
                format!("`{name}` is an alias; name one of its metrics, e.g. `{name}.f1`"),
            )),
        }
    }

    fn expect_condition(
        &self,
        expr: Spanned<Expr>,
        context: &str,
    ) -> Result<Spanned<Condition>, GateError> {
        match expr.value {
            Expr::Condition(condition) => Ok(Spanned {
                value: condition,
                span: expr.span,
                column: expr.column,
            }),
            Expr::Num(_) => Err(syntax(
                expr.column,
                format!(
                    "{context}, found the number expression `{}` (e.g. write `{} >= 0.8`)",
                    &self.source[expr.span.0..expr.span.1],
                    &self.source[expr.span.0..expr.span.1],
                ),
            )),
        }
    }

    fn expect_number(
        &self,
        expr: Spanned<Expr>,
        context: &str,
    ) -> Result<Spanned<NumExpr>, GateError> {
        match expr.value {
            Expr::Num(num) => Ok(Spanned {
                value: num,
                span: expr.span,
                column: expr.column,
            }),
            Expr::Condition(_) => Err(syntax(
                expr.column,
                format!(
                    "{context}, found the condition `{}`",
                    &self.source[expr.span.0..expr.span.1]
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ALIASES: &[&str] = &["production", "candidate", "staging"];

    /// Metrics per holder: `None` is the candidate, `Some(alias)` a version
    /// holding that alias. Aliases absent from the map are unheld.
    struct Metrics(HashMap<Option<&'static str>, HashMap<&'static str, f64>>);

    impl Metrics {
        fn new(candidate: &[(&'static str, f64)]) -> Self {
            Metrics(HashMap::from([(None, candidate.iter().copied().collect())]))
        }

        fn with_alias(mut self, alias: &'static str, metrics: &[(&'static str, f64)]) -> Self {
            self.0
                .insert(Some(alias), metrics.iter().copied().collect());
            self
        }
    }

    impl MetricLookup for Metrics {
        fn lookup(&self, alias: Option<&str>, metric: &str) -> Lookup {
            let holder = self.0.iter().find(|(key, _)| **key == alias);
            match holder {
                None => Lookup::NoSuchAlias,
                Some((_, metrics)) => metrics
                    .get(metric)
                    .map_or(Lookup::NoSuchMetric, |value| Lookup::Value(*value)),
            }
        }
    }

    fn parse(source: &str) -> Gate {
        Gate::parse(source, ALIASES).unwrap_or_else(|error| panic!("{source}: {error}"))
    }

    fn parse_error(source: &str) -> (usize, String) {
        match Gate::parse(source, ALIASES) {
            Err(GateError::Syntax { column, message }) => (column, message),
            other => panic!("{source}: expected a syntax error, got {other:?}"),
        }
    }

    /// Evaluates a gate whose metrics are all candidate metrics.
    fn holds(source: &str, candidate: &[(&'static str, f64)]) -> bool {
        parse(source)
            .evaluate(&Metrics::new(candidate))
            .unwrap()
            .passed()
    }

    #[test]
    fn example_gate_passes_and_fails_naming_the_term() {
        let gate = parse("f1 >= 0.85 and f1 >= production.f1 - 0.01");
        assert_eq!(
            gate.terms().collect::<Vec<_>>(),
            ["f1 >= 0.85", "f1 >= production.f1 - 0.01"]
        );

        let good = Metrics::new(&[("f1", 0.87)]).with_alias("production", &[("f1", 0.8712)]);
        let outcome = gate.evaluate(&good).unwrap();
        assert!(outcome.passed());
        assert_eq!(outcome.first_failure(), None);

        let worse = Metrics::new(&[("f1", 0.86)]).with_alias("production", &[("f1", 0.8712)]);
        let outcome = gate.evaluate(&worse).unwrap();
        assert!(!outcome.passed());
        assert_eq!(outcome.terms[0].status, TermStatus::Passed);
        let failure = outcome.first_failure().unwrap();
        assert_eq!(
            failure.to_string(),
            "f1 >= production.f1 - 0.01: 0.86 >= 0.8612 failed"
        );
        assert_eq!(
            outcome.to_string(),
            "f1 >= 0.85: 0.86 >= 0.85 passed\n\
             f1 >= production.f1 - 0.01: 0.86 >= 0.8612 failed"
        );
    }

    #[test]
    fn first_promotion_skips_alias_comparisons() {
        let gate = parse("f1 >= 0.85 and f1 >= production.f1 - 0.01");
        let outcome = gate.evaluate(&Metrics::new(&[("f1", 0.9)])).unwrap();
        assert!(outcome.passed());
        assert_eq!(outcome.terms[1].status, TermStatus::Skipped);
        assert_eq!(outcome.terms[1].comparisons[0].right, None);
        assert_eq!(
            outcome.terms[1].comparisons[0].missing_aliases,
            ["production"]
        );
        assert_eq!(
            outcome.terms[1].to_string(),
            "f1 >= production.f1 - 0.01: 0.9 >= ? skipped (no version holds `production` yet)"
        );
        assert_eq!(outcome.skipped().count(), 1);

        // Skipping never hides a failure elsewhere.
        let outcome = gate.evaluate(&Metrics::new(&[("f1", 0.8)])).unwrap();
        assert!(!outcome.passed());
        assert_eq!(outcome.first_failure().unwrap().text, "f1 >= 0.85");
    }

    #[test]
    fn skipped_operands_drop_out_of_or_and_not() {
        let metrics = Metrics::new(&[("f1", 0.7)]);
        let evaluate = |source: &str| parse(source).evaluate(&metrics).unwrap().terms[0].status;
        // `or` with a skipped side is decided by the other side.
        assert_eq!(
            evaluate("f1 > production.f1 or f1 > 0.8"),
            TermStatus::Failed
        );
        assert_eq!(
            evaluate("f1 > production.f1 or f1 > 0.6"),
            TermStatus::Passed
        );
        assert_eq!(
            evaluate("(f1 > production.f1 and f1 > 0.6)"),
            TermStatus::Passed
        );
        assert_eq!(evaluate("not f1 > production.f1"), TermStatus::Skipped);
        assert_eq!(
            evaluate("f1 > production.f1 or f1 < staging.f1"),
            TermStatus::Skipped
        );
    }

    #[test]
    fn missing_candidate_metric_is_an_error_naming_it() {
        let gate = parse("f1 >= 0.85 or roc_auc > 0.9");
        let error = gate.evaluate(&Metrics::new(&[("f1", 0.9)])).unwrap_err();
        assert_eq!(
            error,
            GateError::MissingCandidateMetric {
                metric: "roc_auc".into()
            }
        );
        assert_eq!(error.to_string(), "the candidate has no metric `roc_auc`");
    }

    #[test]
    fn missing_metric_on_alias_holder_is_an_error() {
        let gate = parse("f1 >= production.f1");
        let metrics = Metrics::new(&[("f1", 0.9)]).with_alias("production", &[("auc", 0.9)]);
        assert_eq!(
            gate.evaluate(&metrics).unwrap_err(),
            GateError::MissingAliasMetric {
                alias: "production".into(),
                metric: "f1".into()
            }
        );
    }

    #[test]
    fn or_passes_when_either_side_passes() {
        assert!(holds(
            "f1 > 0.9 or auc > 0.9",
            &[("f1", 0.5), ("auc", 0.95)]
        ));
        assert!(holds(
            "f1 > 0.9 or auc > 0.9",
            &[("f1", 0.95), ("auc", 0.5)]
        ));
        assert!(!holds(
            "f1 > 0.9 or auc > 0.9",
            &[("f1", 0.5), ("auc", 0.5)]
        ));
        // An `or` is one term, reported with each comparison's values.
        let outcome = parse("f1 > 0.9 or auc > 0.9")
            .evaluate(&Metrics::new(&[("f1", 0.5), ("auc", 0.5)]))
            .unwrap();
        assert_eq!(
            outcome.first_failure().unwrap().to_string(),
            "f1 > 0.9 or auc > 0.9: failed (f1 > 0.9: 0.5 > 0.9 failed; auc > 0.9: 0.5 > 0.9 failed)"
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        let m = [("a", 1.0), ("b", 0.0), ("c", 1.0)];
        // a or (b and c) → true; (a or b) and c → true; distinguish with b=0,c=0:
        assert!(holds(
            "a > 0 or b > 0 and c > 0",
            &[("a", 1.0), ("b", 0.0), ("c", 0.0)]
        ));
        assert!(!holds(
            "(a > 0 or b > 0) and c > 0",
            &[("a", 1.0), ("b", 0.0), ("c", 0.0)]
        ));
        // not applies to the comparison only: (not a > 0) or c > 0.
        assert!(holds("not a > 0 or c > 0", &m));
        assert!(!holds("not (a > 0 or c > 0)", &m));
        assert!(holds("not not a > 0", &m));
        // A single `or` gate has one term; a top-level `and` splits.
        assert_eq!(parse("a > 0 or b > 0 and c > 0").terms().count(), 1);
        assert_eq!(
            parse("a > 0 and (b > 0 or c > 0) and not c < 0")
                .terms()
                .collect::<Vec<_>>(),
            ["a > 0", "(b > 0 or c > 0)", "not c < 0"]
        );
    }

    #[test]
    fn arithmetic_precedence_and_unary_minus() {
        let m = [("x", 2.0)];
        assert!(holds("1 + x * 3 == 7", &m));
        assert!(holds("(1 + x) * 3 == 9", &m));
        assert!(holds("x - 1 - 1 == 0", &m)); // left-associative
        assert!(holds("8 / x / 2 == 2", &m));
        assert!(holds("-x == -2", &m));
        assert!(holds("- -x == 2", &m));
        assert!(holds("-x * 3 == -6", &m));
        assert!(holds("2 - -x == 4", &m));
        assert!(holds("1e-3 * 1000 == 1", &m));
        assert!(holds("1.5E+1 == 15", &m));
        // A parenthesised number on the left of a comparison.
        assert!(holds("(x + 1) >= 3 and (x) < 2.5", &m));
    }

    #[test]
    fn names_with_dots_digits_and_aliases() {
        let gate = parse("gap.f1 <= 0.05 and roc_auc2 > production.roc_auc and F1 > staging.x.y");
        assert_eq!(
            gate.referenced_metrics(),
            vec![
                MetricRef {
                    alias: None,
                    metric: "F1".into()
                },
                MetricRef {
                    alias: None,
                    metric: "gap.f1".into()
                },
                MetricRef {
                    alias: None,
                    metric: "roc_auc2".into()
                },
                MetricRef {
                    alias: Some("production".into()),
                    metric: "roc_auc".into()
                },
                MetricRef {
                    alias: Some("staging".into()),
                    metric: "x.y".into()
                },
            ]
        );
        // An unknown first segment is just part of a candidate metric name.
        assert_eq!(
            parse("shadow.f1 > 0").referenced_metrics(),
            [MetricRef {
                alias: None,
                metric: "shadow.f1".into()
            }]
        );
        // Keywords are case-insensitive.
        assert_eq!(parse("a > 1 AND b > 1 And c > 1").terms().count(), 3);
    }

    #[test]
    fn nan_fails_every_comparison() {
        for op in [">=", ">", "<=", "<", "==", "!="] {
            assert!(!holds(&format!("x {op} 1"), &[("x", f64::NAN)]), "{op}");
        }
        assert!(!holds("0 / 0 != 1", &[]));
        // not NaN-comparison passes: the comparison itself is what fails.
        assert!(holds("not x > 1", &[("x", f64::NAN)]));
        let outcome = parse("x >= 1")
            .evaluate(&Metrics::new(&[("x", f64::NAN)]))
            .unwrap();
        assert_eq!(
            outcome.first_failure().unwrap().to_string(),
            "x >= 1: NaN >= 1 failed"
        );
    }

    #[test]
    fn close_values_are_printed_with_enough_digits_to_differ() {
        let outcome = parse("f1 >= 0.85")
            .evaluate(&Metrics::new(&[("f1", 0.849_999_9)]))
            .unwrap();
        assert_eq!(outcome.to_string(), "f1 >= 0.85: 0.8499999 >= 0.85 failed");
        assert_eq!(format_significant(1234.5678, 4), "1235");
        assert_eq!(format_significant(0.000_012_34, 4), "1.234e-5");
        assert_eq!(format_significant(-0.5, 4), "-0.5");
    }

    #[test]
    fn syntax_errors_give_column_and_expectation() {
        assert_eq!(
            parse_error("f1 >= 0.85 >= 0.9"),
            (
                12,
                "comparisons cannot be chained; combine them with `and` (after `f1 >= 0.85`)"
                    .into()
            )
        );
        assert_eq!(
            parse_error("f1 >= 0.85 and >= 0.9"),
            (16, "expected a number or metric name, found `>=`".into())
        );
        assert_eq!(
            parse_error("f1 >= "),
            (
                7,
                "expected a number or metric name, found the end of the gate".into()
            )
        );
        assert_eq!(
            parse_error(""),
            (
                1,
                "expected a number or metric name, found the end of the gate".into()
            )
        );
        assert_eq!(
            parse_error("(f1 >= 0.85"),
            (12, "expected `)`, found the end of the gate".into())
        );
        assert_eq!(
            parse_error("f1 >= 0.85)"),
            (
                11,
                "expected `and`, `or` or the end of the gate, found `)`".into()
            )
        );
        assert_eq!(parse_error("f1 = 0.85").0, 4);
        assert_eq!(parse_error("f1 >= 0.85 && f1 < 1").0, 12);
        assert_eq!(parse_error("f1 >= 0.85 # x").1, "unexpected character `#`");
        assert_eq!(parse_error("gap. >= 1").0, 1);
        // Columns count characters, not bytes.
        assert_eq!(parse_error("é > 1 and >").0, 11);
    }

    #[test]
    fn type_errors_say_what_was_expected() {
        let (column, message) = parse_error("f1");
        assert_eq!(column, 1);
        assert!(
            message.starts_with("the gate must be a comparison"),
            "{message}"
        );
        let (column, message) = parse_error("f1 > 0.5 and auc");
        assert_eq!(column, 14);
        assert!(
            message.contains("found the number expression `auc`"),
            "{message}"
        );
        let (column, message) = parse_error("(f1 > 0.5) + 1 > 2");
        assert_eq!(column, 1);
        assert!(
            message.contains("found the condition `(f1 > 0.5)`"),
            "{message}"
        );
        let (column, message) = parse_error("f1 > 0.5 and -(auc > 1)");
        assert_eq!(column, 15);
        assert!(message.starts_with("unary `-` needs a number"), "{message}");
        let (column, message) = parse_error("f1 > production");
        assert_eq!(column, 6);
        assert!(message.contains("`production` is an alias"), "{message}");
    }

    #[test]
    fn lookup_can_be_a_closure() {
        let gate = parse("f1 > production.f1");
        let lookup = |alias: Option<&str>, metric: &str| match (alias, metric) {
            (None, "f1") => Lookup::Value(0.9),
            (Some("production"), "f1") => Lookup::Value(0.8),
            _ => Lookup::NoSuchMetric,
        };
        assert!(gate.evaluate(&lookup).unwrap().passed());
        assert_eq!(gate.to_string(), "f1 > production.f1");
    }
}
