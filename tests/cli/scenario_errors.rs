//! `phonecert check` on scenarios with mistakes: every error of every file, files in path
//! order, errors in line order, each with a suggestion where a name is a near miss.

use crate::common::*;

/// The shipped REG-002 with its fixtures, under `dir/registration/`, after `edit`.
fn copy_reg_002(dir: &std::path::Path, edit: impl Fn(String) -> String) -> String {
    let reg = dir.join("registration");
    std::fs::create_dir_all(reg.join("fixtures")).expect("mkdir");
    std::fs::create_dir_all(dir.join("boot/fixtures")).expect("mkdir");
    for (from, to) in [
        (
            "scenarios/registration/fixtures/96xxupgrade-no-upgrade.txt",
            "registration/fixtures/96xxupgrade-no-upgrade.txt",
        ),
        (
            "scenarios/boot/fixtures/46xxsettings.txt",
            "boot/fixtures/46xxsettings.txt",
        ),
    ] {
        std::fs::copy(root().join(from), dir.join(to)).expect("copy fixture");
    }
    let text = std::fs::read_to_string(root().join("scenarios/registration/retry-after-503.toml"))
        .expect("REG-002");
    let path = reg.join("retry-after-503.toml");
    std::fs::write(&path, edit(text)).expect("write");
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn misspelt_event_and_field_are_named_with_suggestions_in_every_file_in_order() {
    let s = Scratch::new("scenario-errors");
    let reg = copy_reg_002(&s.0, |t| {
        t.replacen(
            "kind = \"absent\"\nproto = \"sip\"\nevent = \"request\"",
            "kind = \"absent\"\nproto = \"sip\"\nevent = \"requst\"",
            1,
        )
        // REG-002-02's matcher: the first one that is exactly this
        .replacen(
            "match = { method = \"REGISTER\" }\n",
            "match = { mehtod = \"REGISTER\" }\n",
            1,
        )
    });
    // A second bad file that sorts first: its errors come first.
    std::fs::create_dir_all(s.0.join("another")).expect("mkdir");
    let other = copy_reg_002(&s.0.join("another"), |t| {
        t.replace("until = \"REG-002-04\"", "until = \"REG-002-09\"")
            .replace("after = \"REG-002-03\"", "after = \"REG-002-07\"")
    });
    // Line numbers of the edited lines, so the test follows edits to the shipped file.
    let line_of = |path: &str, needle: &str| {
        std::fs::read_to_string(path)
            .expect("read back")
            .lines()
            .position(|l| l.starts_with(needle))
            .expect("edited line")
            + 1
    };
    let (until, after) = (
        line_of(&other, "until = \"REG-002-09\""),
        line_of(&other, "after = \"REG-002-07\""),
    );
    let (event, mtch) = (
        line_of(&reg, "event = \"requst\""),
        line_of(&reg, "match = { mehtod"),
    );
    let out = phonecert(&["check", s.0.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "scenario error at {other}:{until}:1: run.until names `REG-002-09`, which is no check of this scenario
   |
{until} | until = \"REG-002-09\"
   | ^
scenario error at {other}:{after}:1: check `REG-002-04`: `after` names `REG-002-07`, which is no check of this scenario
   |
{after} | after = \"REG-002-07\"
   | ^
scenario error at {reg}:{event}:9: check `REG-002-02`: sip has no event `requst` (its events: closed, malformed, peer_response, request, response, silence, tls_handshake); did you mean `request`?
   |
{event} | event = \"requst\"
   |         ^
scenario error at {reg}:{mtch}:11: check `REG-002-02`: sip request events have no field `mehtod`; did you mean `method`?
   |
{mtch} | match = {{ mehtod = \"REGISTER\" }}
   |           ^
"
    );
    assert_eq!(err, expected);
}
