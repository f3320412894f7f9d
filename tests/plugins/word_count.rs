use sluice_core::ColumnValues;
use sluice_tests::*;

#[test]
fn word_count() {
    let plugin = load_stdlib(
        "word-count",
        "[plugin.word-count]\nread = [\"text\"]\nwrite = [\"word_count\"]\n",
    );
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["one two  three", ""]))
        .unwrap();
    assert_eq!(
        out.column("word_count"),
        Some(&ColumnValues::Int64 {
            values: vec![3, 0],
            valid: vec![]
        })
    );
}
