//! `phonecert firmware build` and `inspect` as a user runs them: exit codes and what they
//! print.

use crate::common::*;

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

/// FW-001 with its built image swapped for `spec` (a user-supplied image), written into `s`.
fn fw001_with(s: &Scratch, spec: &str) -> String {
    let fixtures = root().join("scenarios/boot/fixtures");
    let text =
        std::fs::read_to_string(root().join("scenarios/firmware/corrupt-binary-rejected.toml"))
            .expect("FW-001")
            .replace("../boot/fixtures", fixtures.to_str().expect("utf-8"));
    let line = text
        .lines()
        .find(|l| l.starts_with("\"fw/${profile.app_prefix}2_6_1_0.bin\""))
        .expect("the binary's line")
        .to_owned();
    let text = text.replace(
        &line,
        &format!("\"fw/${{profile.app_prefix}}2_6_1_0.bin\" = {spec}"),
    );
    let path = s.0.join("real-image.toml");
    std::fs::write(&path, text).expect("write scenario");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn a_user_supplied_image_is_served_as_it_is_or_damaged_as_the_scenario_says() {
    let s = Scratch::new("fw-real-image");
    let image = s.0.join("vendor.bin");
    let image = image.to_str().expect("utf-8");
    let out = phonecert(&[
        "firmware",
        "build",
        "--model",
        "96x0",
        "--version",
        "2.6.1.0",
        "--app-name",
        "S96x0_SALBR2_6_1_0.bin",
        "--size",
        "65536",
        "--out",
        image,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out_dir = s.0.to_str().expect("utf-8");

    // A bit flipped in the payload (the last byte): FW-001's checks see it refused.
    let size = std::fs::metadata(image).expect("image").len();
    let flipped = fw001_with(
        &s,
        &format!(
            "{{ image = \"{image}\", corrupt = {{ bitflip = {} }} }}",
            size - 1
        ),
    );
    let run = phonecert(&["run", "--lab", "loopback", "--out", out_dir, &flipped]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );

    // The same file undamaged is a good image: the phone installs it, and FW-001 fails.
    let whole = fw001_with(&s, &format!("{{ image = \"{image}\" }}"));
    let run = phonecert(&["run", "--lab", "loopback", "--out", out_dir, &whole]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stdout));
    assert!(
        text(&run.stdout).contains("FW-001-02"),
        "{}",
        text(&run.stdout)
    );

    // A missing image is refused at load, naming the scenario's file and line.
    let missing = fw001_with(&s, &format!("{{ image = \"{image}.gone\" }}"));
    let check = phonecert(&["check", &missing]);
    assert_eq!(check.status.code(), Some(2));
    let err = text(&check.stderr);
    assert!(err.contains(&format!("{missing}:")), "{err}");
    assert!(err.contains("cannot be read"), "{err}");
}
