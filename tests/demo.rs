//! `catar` with no arguments away from a terminal: the demo rates and records headless, and a
//! demo started while another runs works in a directory of its own instead of truncating the
//! other's trace and database.

mod common;

#[test]
fn a_demo_never_clobbers_a_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("catar-demo");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("demo.trace"), "the running demo's trace").unwrap();
    // The running demo, as this test holds its lock.
    let lock = std::fs::File::create(tmp.path().join("catar-demo.lock")).unwrap();
    lock.lock().unwrap();
    let out = common::catar().env("TMPDIR", tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("another demo is running"), "{stderr}");
    assert_eq!(std::fs::read_to_string(shared.join("demo.trace")).unwrap(), "the running demo's trace");
    let own: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("catar-demo-"))
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(catar::recorder::open_trace(&own[0].join("demo.trace")).unwrap().complete());
    // Once it is over, the next demo takes the shared directory again.
    drop(lock);
    let out = common::catar().env("TMPDIR", tmp.path()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("program cabinets"));
    assert!(catar::recorder::open_trace(&shared.join("demo.trace")).unwrap().complete());
}
