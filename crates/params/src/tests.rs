use super::*;

/// A minimal side: the same shape as the host's and the SDK's types.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Text(String),
    TextList(Vec<String>),
    Float64List(Vec<f64>),
}

impl Value for V {
    fn param_type(&self) -> ParamType {
        match self {
            V::Boolean(_) => ParamType::Boolean,
            V::Int64(_) => ParamType::Int64,
            V::Float64(_) => ParamType::Float64,
            V::Text(_) => ParamType::Text,
            V::TextList(_) => ParamType::TextList,
            V::Float64List(_) => ParamType::Float64List,
        }
    }
    fn as_int64(&self) -> Option<i64> {
        match self {
            V::Int64(v) => Some(*v),
            _ => None,
        }
    }
    fn as_text(&self) -> Option<&str> {
        match self {
            V::Text(v) => Some(v),
            _ => None,
        }
    }
    fn as_text_list(&self) -> Option<&[String]> {
        match self {
            V::TextList(v) => Some(v),
            _ => None,
        }
    }
    fn is_empty_text_list(&self) -> bool {
        matches!(self, V::TextList(v) if v.is_empty())
    }
    fn from_float64(value: f64) -> Self {
        V::Float64(value)
    }
    fn from_float64_list(values: Vec<f64>) -> Self {
        V::Float64List(values)
    }
}

struct S(&'static str, ParamType, Option<V>);

impl Spec for S {
    type Value = V;
    fn name(&self) -> &str {
        self.0
    }
    fn param_type(&self) -> ParamType {
        self.1
    }
    fn default(&self) -> Option<&V> {
        self.2.as_ref()
    }
    fn doc(&self) -> &str {
        "the doc"
    }
}

struct C(&'static str, Option<&'static str>);

impl NamedColumn for C {
    fn name(&self) -> &str {
        self.0
    }
    fn name_param(&self) -> Option<&str> {
        self.1
    }
}

fn specs() -> Vec<S> {
    vec![
        S("column", ParamType::Text, Some(V::Text("text".into()))),
        S("rate", ParamType::Float64, None),
        S(
            "cuts",
            ParamType::Float64List,
            Some(V::Float64List(vec![1.0])),
        ),
        S("lower", ParamType::Boolean, Some(V::Boolean(true))),
    ]
}

fn resolve_pairs(given: &[(&'static str, V)]) -> Result<Vec<(String, V)>, ParamError> {
    resolve(&specs(), given.iter().map(|(n, v)| (*n, v)))
}

#[test]
fn fills_defaults_in_declaration_order_and_coerces() {
    let resolved = resolve_pairs(&[
        ("lower", V::Boolean(false)),
        ("rate", V::Int64(2)),
        ("cuts", V::TextList(vec![])),
    ])
    .unwrap();
    assert_eq!(
        resolved,
        vec![
            ("column".to_string(), V::Text("text".into())),
            ("rate".to_string(), V::Float64(2.0)),
            ("cuts".to_string(), V::Float64List(vec![])),
            ("lower".to_string(), V::Boolean(false)),
        ]
    );
}

#[test]
fn errors_name_the_param() {
    let error = |given: &[(&'static str, V)]| resolve_pairs(given).unwrap_err().to_string();
    assert_eq!(
        error(&[("rate", V::Float64(1.0)), ("nope", V::Boolean(true))]),
        "unknown param `nope` (this step takes: column, rate, cuts, lower)"
    );
    assert_eq!(
        error(&[("rate", V::Text("x".into()))]),
        "param `rate` should be float64, got text"
    );
    assert_eq!(
        error(&[
            ("rate", V::Float64(1.0)),
            ("cuts", V::TextList(vec!["a".into()]))
        ]),
        "param `cuts` should be float64-list, got text-list"
    );
    assert_eq!(error(&[]), "param `rate` (float64) is required: the doc");
}

#[test]
fn columns_are_named_by_their_param() {
    let params = [
        ("column", V::Text("body".into())),
        ("columns", V::TextList(vec!["a".into(), "b".into()])),
    ];
    fn names<'a>(spec: &'a C, params: &'a [(&'static str, V)]) -> Vec<&'a str> {
        column_names(spec, params.iter().map(|(n, v)| (*n, v)))
    }
    assert_eq!(names(&C("text", Some("column")), &params), ["body"]);
    assert_eq!(names(&C("x", Some("columns")), &params), ["a", "b"]);
    assert_eq!(names(&C("fixed", None), &params), ["fixed"]);
    assert_eq!(names(&C("fallback", Some("absent")), &params), ["fallback"]);
}

#[test]
fn column_lists_need_one_column_and_no_repeats() {
    let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    check_column_list("columns", &list(&["a", "b"])).unwrap();
    assert_eq!(
        check_column_list("columns", &[]).unwrap_err().to_string(),
        "param `columns` must name at least one column"
    );
    assert_eq!(
        check_column_list("columns", &list(&["a", "b", "a"]))
            .unwrap_err()
            .to_string(),
        "param `columns` lists `a` twice"
    );
}
