//! Built against a future major version of the contract (sluice:plugin@1.0.0).
wit_bindgen::generate!({
    inline: "
        package sluice:plugin@1.0.0;
        interface step { describe: func() -> string; }
        world next-major { export step; }
    ",
});

struct Future;

impl exports::sluice::plugin::step::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);
fn main() {}
