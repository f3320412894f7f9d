//! Builders for the static description a step returns from `describe`.

use crate::{ColumnSpec, ColumnType, ParamSpec, ParamType, ParamValue, StepInfo, StepKind};

impl StepInfo {
    /// Starts a description; add params and columns with the builder methods.
    pub fn new(name: &str, version: &str, kind: StepKind, summary: &str) -> Self {
        StepInfo {
            name: name.to_string(),
            version: version.to_string(),
            kind,
            summary: summary.to_string(),
            params: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            fits: false,
        }
    }

    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.params.push(spec);
        self
    }

    pub fn reads(mut self, spec: ColumnSpec) -> Self {
        self.reads.push(spec);
        self
    }

    pub fn writes(mut self, spec: ColumnSpec) -> Self {
        self.writes.push(spec);
        self
    }

    /// Marks the step as fitted: the host runs a `fit` pass first.
    pub fn fitted(mut self) -> Self {
        self.fits = true;
        self
    }
}

macro_rules! param_constructors {
    ($($fn_name:ident($rust:ty) => $ty:ident, $wrap:expr;)*) => {
        impl ParamSpec {
            $(
                #[doc = concat!("A `", stringify!($ty), "` parameter; `None` default makes it required.")]
                pub fn $fn_name(name: &str, default: Option<$rust>, doc: &str) -> Self {
                    ParamSpec {
                        name: name.to_string(),
                        type_: ParamType::$ty,
                        default: default.map($wrap),
                        doc: doc.to_string(),
                    }
                }
            )*
        }
    };
}

param_constructors! {
    boolean(bool) => Boolean, ParamValue::Boolean;
    int64(i64) => Int64, ParamValue::Int64;
    float64(f64) => Float64, ParamValue::Float64;
    text(&str) => Text, |v: &str| ParamValue::Text(v.to_string());
    text_list(&[&str]) => TextList, |v: &[&str]| ParamValue::TextList(v.iter().map(|s| s.to_string()).collect());
    float64_list(&[f64]) => Float64List, |v: &[f64]| ParamValue::Float64List(v.to_vec());
}

macro_rules! column_constructors {
    ($($fn_name:ident => $ty:ident;)*) => {
        impl ColumnSpec {
            $(
                #[doc = concat!("A `", stringify!($fn_name), "` column with a fixed name.")]
                pub fn $fn_name(name: &str, doc: &str) -> Self {
                    ColumnSpec {
                        name: name.to_string(),
                        type_: ColumnType::$ty,
                        name_param: None,
                        optional: false,
                        doc: doc.to_string(),
                    }
                }
            )*
        }
    };
}

column_constructors! {
    float64 => Float64;
    int64 => Int64;
    boolean => Boolean;
    text => Text;
    sparse => Sparse;
    tags => Tags;
}

impl ColumnSpec {
    /// The column's actual name is the value of parameter `param`
    /// (`name` stays as documentation of the default).
    pub fn named_by(mut self, param: &str) -> Self {
        self.name_param = Some(param.to_string());
        self
    }

    /// The step works without this column.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl ParamValue {
    pub fn param_type(&self) -> ParamType {
        match self {
            ParamValue::Boolean(_) => ParamType::Boolean,
            ParamValue::Int64(_) => ParamType::Int64,
            ParamValue::Float64(_) => ParamType::Float64,
            ParamValue::Text(_) => ParamType::Text,
            ParamValue::TextList(_) => ParamType::TextList,
            ParamValue::Float64List(_) => ParamType::Float64List,
        }
    }
}
