use sluice_core::Chunk;
use sluice_core::contract::ParamValue;
use sluice_tests::*;

use crate::floats;

#[test]
fn standard_scaler() {
    let plugin = load_stdlib(
        "standard-scaler",
        "[plugin.standard-scaler]\nread = [\"a\", \"b\"]\nwrite = [\"a\", \"b\"]\n",
    );
    assert!(plugin.info().fits);
    let given = vec![(
        "columns".to_string(),
        ParamValue::TextList(vec!["a".into(), "b".into()]),
    )];
    let (params, effective) = plugin.effective_grant(&given).unwrap();

    let mut training = Chunk::new(4);
    training.set("a", floats(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]));
    training.set("b", floats(&[Some(10.0), None, Some(10.0), Some(10.0)]));
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(training.clone()).unwrap();
        session.finish_fit().unwrap()
    };
    let state = fit();
    assert_eq!(fit(), state, "fitted state is reproducible byte for byte");

    let mut input = Chunk::new(2);
    input.set("a", floats(&[Some(2.5), None]));
    input.set("b", floats(&[Some(10.0), Some(12.0)]));
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(out.column("a"), Some(&floats(&[Some(0.0), None])));
    // constant column: sd 0 keeps scale 1, as scikit-learn does
    assert_eq!(out.column("b"), Some(&floats(&[Some(0.0), Some(2.0)])));

    // corrupt state is the plugin's error, reported with its name
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("standard-scaler") && err.contains("fitted state is corrupt"),
        "{err}"
    );
}
