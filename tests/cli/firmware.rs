//! `phonecert firmware build` and `inspect` as a user runs them: exit codes and what they
//! print.

use crate::common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn build_then_inspect_accepts_for_the_right_phone_and_refuses_for_another() {
    let s = Scratch::new("fw-build");
    let image = s.0.join("S96x0_SALBR2_6_1_0.bin");
    let image = image.to_str().expect("utf-8");
    let out = phonecert(&[
        "firmware",
        "build",
        "--model",
        "96x0",
        "--hardware",
        "D01A",
        "--version",
        "2.6.1.0",
        "--size",
        "5000",
        "--out",
        image,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("5000 payload bytes"));

    let ok = phonecert(&[
        "firmware",
        "inspect",
        image,
        "--model",
        "9620",
        "--hardware",
        "D01A",
        "--kind",
        "application",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let shown = text(&ok.stdout);
    assert!(shown.contains("app name S96x0_SALBR2_6_1_0.bin"), "{shown}");
    assert!(shown.contains("verdict  accepted"), "{shown}");

    let other = phonecert(&["firmware", "inspect", image, "--model", "9608"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stdout).contains("verdict  refused: model: "));

    let missing = phonecert(&["firmware", "inspect", &format!("{image}.nope")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read"));

    let no_payload = phonecert(&[
        "firmware",
        "build",
        "--model",
        "96x0",
        "--version",
        "1",
        "-o",
        image,
    ]);
    assert_eq!(no_payload.status.code(), Some(2));
    assert!(text(&no_payload.stderr).contains("--payload FILE or --size BYTES"));
}
