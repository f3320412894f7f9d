//! Rollouts from the CLI: `sluice deploy`, `sluice rollback`,
//! `sluice deployments` on a trained example project.

mod common;
use common::ok;
use common::serving::Project;

/// A second version of the example's model (another split seed).
fn second_version(project: &Project) {
    let pipeline = std::fs::read_to_string(project.path("pipeline.toml"))
        .unwrap()
        .replace("seed = 7", "seed = 8")
        .replace("and f1 >= production.f1 - 0.01", "");
    std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
    let run = ok(&project.sluice(&["run", "pipeline.toml"]));
    assert!(run.contains("version 2"), "{run}");
}

fn fails(project: &Project, args: &[&str]) -> String {
    let out = project.sluice(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn deploy_rollback_and_the_deployment_history() {
    let project = Project::trained(None);
    second_version(&project);

    let started = ok(&project.sluice(&["deploy", "chat-moderation", "2", "--canary", "5"]));
    assert!(
        started.contains("serves 5% of users as `canary`"),
        "{started}"
    );
    assert!(started.contains("production (version 1)"), "{started}");
    // one active deployment per model
    let second = fails(&project, &["deploy", "chat-moderation", "2", "--shadow"]);
    assert!(second.contains("already has active deployment"), "{second}");
    // bad input names what is wrong
    for (args, words) in [
        (
            &["deploy", "chat-moderation", "2", "--canary", "150"][..],
            "percent",
        ),
        (
            &["deploy", "chat-moderation", "9", "--canary", "5"],
            "version",
        ),
        (
            &[
                "deploy",
                "chat-moderation",
                "2",
                "--canary",
                "5",
                "--shadow",
            ],
            "cannot be used with",
        ),
        (&["deploy", "chat-moderation", "2"], "required"),
        (
            &[
                "deploy",
                "chat-moderation",
                "2",
                "--canary",
                "5",
                "--variant",
                "x",
            ],
            "--ab",
        ),
    ] {
        let error = fails(&project, args);
        assert!(error.contains(words), "{args:?}: {error}");
    }
    let listed = ok(&project.sluice(&["deployments"]));
    assert!(
        listed.contains("canary") && listed.contains("active"),
        "{listed}"
    );

    let rolled = ok(&project.sluice(&["rollback", "chat-moderation", "--reason", "error rate"]));
    assert!(
        rolled.contains("rolled back; production stays at version 1"),
        "{rolled}"
    );
    let listed = ok(&project.sluice(&["deployments", "chat-moderation"]));
    assert!(
        listed.contains("rolled_back") && listed.contains("error rate"),
        "{listed}"
    );
    let audit = ok(&project.sluice(&["audit", "log", "--limit", "5"]));
    assert!(audit.contains("deployment.rolled_back"), "{audit}");

    // with no deployment active and no earlier production: nothing to undo
    let nothing = fails(&project, &["rollback", "chat-moderation"]);
    assert!(
        nothing.contains("nothing") || nothing.contains("no active deployment"),
        "{nothing}"
    );
    // after a promotion, rollback moves production back
    ok(&project.sluice(&["promote", "chat-moderation", "2", "--alias", "production"]));
    let back = ok(&project.sluice(&["rollback", "chat-moderation"]));
    assert!(back.contains("moved back from version 2 to 1"), "{back}");
    let models = ok(&project.sluice(&["models", "chat-moderation"]));
    assert!(models.contains("production"), "{models}");

    // A/B with a named variant, then a shadow after it ends
    let ab = ok(&project.sluice(&[
        "deploy",
        "chat-moderation",
        "2",
        "--ab",
        "50",
        "--variant",
        "wordchar",
    ]));
    assert!(ab.contains("50% of users as `wordchar`"), "{ab}");
    ok(&project.sluice(&["rollback", "chat-moderation"]));
    let shadow = ok(&project.sluice(&["deploy", "chat-moderation", "2", "--shadow"]));
    assert!(shadow.contains("shadows production"), "{shadow}");
}
