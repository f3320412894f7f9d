use sluice_core::contract::ParamValue;
use sluice_tests::*;

use crate::embedded;

#[test]
fn clean_text() {
    let plugin = load_stdlib(
        "clean-text",
        "[plugin.clean-text]\nread = [\"message\"]\nwrite = [\"message\"]\n",
    );
    assert_eq!(plugin.info().name, "clean-text");
    let given = vec![
        ("column".to_string(), ParamValue::Text("message".into())),
        ("output".to_string(), ParamValue::Text("message".into())),
        ("mask_numbers".to_string(), ParamValue::Boolean(true)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let input = text_chunk(
        "message",
        &[
            "FREE entry!! Txt WIN to 80082 www.win.example.com",
            "  ｈｅｌｌｏ   @Mum ",
            "mail x.y@example.org now",
        ],
    );
    let run = || {
        plugin
            .session(&params, &effective, None)
            .unwrap()
            .process(input.clone())
            .unwrap()
    };
    let out = run();
    assert_eq!(
        texts(&out, "message"),
        vec![
            Some("free entry!! txt win to <num> <url>".to_string()),
            Some("hello <user>".to_string()),
            Some("mail <email> now".to_string()),
        ]
    );
    assert_eq!(run(), out, "same input, same output");
}

#[test]
fn clean_text_rejects_unknown_and_mistyped_params_with_their_names() {
    let runtime = runtime();
    let plugin = runtime
        .load(
            embedded("clean-text"),
            Some("clean-text"),
            &sluice_runtime::policy::Policy::deny_all(),
        )
        .unwrap();
    let err = plugin
        .effective_grant(&[("colum".into(), ParamValue::Text("x".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clean-text")
            && err.contains("unknown param `colum`")
            && err.contains("column"),
        "{err}"
    );
    let err = plugin
        .effective_grant(&[("lowercase".into(), ParamValue::Text("yes".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("param `lowercase` should be boolean, got text"),
        "{err}"
    );
    // under the default (empty) policy it may touch nothing
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("reads column `text` but the policy does not grant it (read = [])"),
        "{err}"
    );
}
