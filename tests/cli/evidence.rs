//! Evidence a reviewer opens in Wireshark: every verdict written on the frames it rests on,
//! and the capture's time scale in its section header.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// `frame number → packet comments` as tshark shows them.
fn tshark_comments(pcap: &Path) -> Vec<(u64, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "frame.comment",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (n, c) = l.split_once('\t')?;
            let n = n.parse().ok()?;
            (!c.is_empty()).then(|| (n, c.to_owned()))
        })
        .collect()
}

fn section_comments(pcap: &Path) -> Vec<String> {
    use pcap_file::pcapng::PcapNgReader;
    use pcap_file::pcapng::blocks::opt_common::CommonOption;
    use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
    let file = std::fs::File::open(pcap).expect("open capture");
    let reader = PcapNgReader::new(file).expect("pcapng header");
    reader
        .section()
        .options
        .iter()
        .filter_map(|o| match o {
            SectionHeaderOption::Common(CommonOption::Comment(c)) => Some(c.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn wireshark_shows_each_verdict_on_its_frames_and_the_time_scale() {
    if !have_tool("tshark") {
        eprintln!(
            "skipped: wireshark_shows_each_verdict_on_its_frames_and_the_time_scale needs tshark; it did NOT run"
        );
        return;
    }
    let scratch = Scratch::new("evidence");
    let run = run_passing(
        "scenarios/boot/discover-retransmission.toml",
        "loopback",
        &scratch.0,
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    let sc = &report["scenarios"][0];
    // Named relative to the output root, two folders above the run folder.
    let pcap = run
        .join("../..")
        .join(sc["capture"].as_str().expect("capture path"));

    // Phone timers ran 10× faster than the capture's clock, and the capture says so.
    let shb = section_comments(&pcap).join("\n");
    assert!(shb.contains("phone time = lab time × 10"), "{shb}");

    // Every check that rests on events names frames, and each of those frames carries the
    // check's id and verdict.
    let comments = tshark_comments(&pcap);
    let checks = sc["checks"].as_array().expect("checks");
    let mut with_frames = 0;
    for c in checks {
        let frames: Vec<u64> = c["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .filter_map(serde_json::Value::as_u64)
            .collect();
        if c["events"].as_array().is_some_and(|e| !e.is_empty()) {
            assert!(
                !frames.is_empty(),
                "a check resting on events lists frames: {c}"
            );
        }
        let id = c["id"].as_str().expect("id");
        let want = format!("{id} {}: ", c["verdict"].as_str().expect("verdict"));
        for f in &frames {
            assert!(
                comments
                    .iter()
                    .any(|(n, text)| n == f && text.contains(&want)),
                "frame {f} has no `{want}…` comment in {comments:?}"
            );
        }
        with_frames += usize::from(!frames.is_empty());
    }
    assert!(with_frames >= 5, "{checks:?}");
    let dropped = comments
        .iter()
        .find(|(_, t)| t.contains("BOOT-002-01 pass: "))
        .expect("the first DISCOVER is marked");
    assert!(dropped.1.contains("DHCPDISCOVER"), "{dropped:?}");

    // Judging again changes nothing in the run unless asked to.
    let before = std::fs::read(&pcap).expect("capture");
    let again = phonecert(&["judge", run.to_str().expect("utf-8 path")]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(&pcap).expect("capture"), before);
    // With --write it replaces the comments instead of adding a second set.
    let again = phonecert(&["judge", "--write", run.to_str().expect("utf-8 path")]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(tshark_comments(&pcap), comments);
}
