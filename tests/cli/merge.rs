//! `phonecert merge`: run folders of several benches joined into one report and one
//! compliance summary that `phonecert verify` accepts; an edited input refused.

use std::path::Path;

use crate::common::*;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("readable json")).expect("json")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_folders(out: &Path) -> usize {
    std::fs::read_dir(out.join("reports"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name() != "latest")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn two_bench_runs_merge_into_one_verified_report_and_an_edited_input_is_refused() {
    let scratch = Scratch::new("merge");
    let (out_a, out_b, out_m) = (
        scratch.0.join("bench-a"),
        scratch.0.join("bench-b"),
        scratch.0.join("merged"),
    );
    // Two benches; both ran the same-appname scenario, so it is in the merged run twice.
    let output = phonecert(&[
        "run",
        "scenarios/downloads/same-appname-no-download.toml",
        "scenarios/downloads/settings-by-model.toml",
        "--lab",
        "loopback",
        "--out",
        out_a.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let a = run_dir(&out_a);
    let output = phonecert(&[
        "run",
        "scenarios/downloads/same-appname-no-download.toml",
        "scenarios/option242/httpdir.toml",
        "--lab",
        "loopback",
        "--out",
        out_b.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let b = run_dir(&out_b);
    let (ra, rb) = (json(&a.join("report.json")), json(&b.join("report.json")));
    let checks = |r: &serde_json::Value| r["summary"]["checks"]["pass"].as_u64().expect("count");

    // The two benches' runs merged into `out_m`.
    let merge = || {
        phonecert(&[
            "merge",
            a.to_str().expect("utf-8"),
            b.to_str().expect("utf-8"),
            "--out",
            out_m.to_str().expect("utf-8"),
        ])
    };
    let merged = merge();
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let m = run_dir(&out_m);
    let rm = json(&m.join("report.json"));
    let ids: Vec<&str> = rm["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let (ida, idb) = (
        ra["run_id"].as_str().expect("id"),
        rb["run_id"].as_str().expect("id"),
    );
    let twice = rb["scenarios"][0]["id"].as_str().expect("id");
    assert!(ids.contains(&format!("{twice}@{ida}").as_str()), "{ids:?}");
    assert!(ids.contains(&format!("{twice}@{idb}").as_str()), "{ids:?}");
    assert_eq!(rm["summary"]["pass"], 4);
    assert_eq!(checks(&rm), checks(&ra) + checks(&rb));
    assert_eq!(rm["merged_from"][1]["run_id"], idb);
    let junit = std::fs::read_to_string(m.join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains(&format!("tests=\"{}\"", checks(&ra) + checks(&rb))),
        "{junit}"
    );
    let page = std::fs::read_to_string(m.join("index.html")).expect("index.html");
    assert!(page.contains(&format!("{twice}@{idb}")));
    // Each input's capture is in the merged run, hashed by its compliance summary.
    let c = json(&m.join("compliance.json"));
    assert_eq!(c["captures"].as_array().expect("captures").len(), 4, "{c}");
    assert_eq!(c["summary"]["pass"], 4);
    // The suite version covers the scenario copies of both inputs: neither one's alone.
    let suite = |c: &serde_json::Value| c["suite_version"].as_str().expect("suite").to_string();
    let (ca, cb) = (
        json(&a.join("compliance.json")),
        json(&b.join("compliance.json")),
    );
    assert_ne!(suite(&c), suite(&ca));
    assert_ne!(suite(&c), suite(&cb));
    assert_ne!(
        suite(&c),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "the hash of no file at all"
    );

    let verify = phonecert(&["verify", m.to_str().expect("utf-8")]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    // Judged again from its own files, it says what its inputs said.
    let judge = phonecert(&["judge", m.to_str().expect("utf-8")]);
    assert_eq!(judge.status.code(), Some(0), "{}", text(&judge));

    // An input edited after its run is refused, named, and nothing is written.
    let timeline = a.join(ra["scenarios"][0]["timeline"].as_str().expect("timeline"));
    let mut bytes = std::fs::read(&timeline).expect("timeline");
    bytes.push(b'\n');
    std::fs::write(&timeline, bytes).expect("edit timeline");
    let before = run_folders(&out_m);
    let refused = merge();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    let name = ra["scenarios"][0]["timeline"].as_str().expect("timeline");
    assert!(err.contains(&format!("changed: {name}")), "{err}");
    assert_eq!(run_folders(&out_m), before);

    // A folder that is not a run, and the same run twice, are refused too.
    let missing = phonecert(&["merge", scratch.0.join("nope").to_str().expect("utf-8")]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("compliance.json"));
    let twice = phonecert(&[
        "merge",
        b.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
        "--out",
        out_m.to_str().expect("utf-8"),
    ]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("given twice"));
    assert_eq!(run_folders(&out_m), before);
}
