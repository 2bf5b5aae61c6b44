//! Hostile inputs (issue 10, items 2, 4, 5 and 6): each test reproduces an attack on the command line
//! and checks that it is refused with the right exit code and an error that names what is at fault.
//!
//! - a bundle source whose files are symbolic links (out of the source, to `/etc/passwd`), FIFOs or
//!   devices, or that leaves the source with `..`: `pack` refuses (exit 2), naming the path;
//! - FIFOs and `/dev/zero` where a small file is expected (`ferry.toml`, `model.sig`, `--input`,
//!   `--config-file`, policies, keys): refused (exit 2) without hanging or reading without bound;
//! - a request that declares far more data than the contract allows (a deflated `.npz` of zeros, a
//!   giant `.npy` shape): refused (exit 1) from its header, naming the tensor and the declared shape,
//!   with the memory of a normal request;
//! - thread counts far above the machine's cores: refused (exit 2), naming the option and the cap.

use crate::common::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `ferry ARGS`, failing the test (instead of hanging it) when the command does not finish in time:
/// several of these attacks made Ferry block forever.
fn run_bounded(args: &[&str]) -> Output {
    run_cmd_bounded(ferry().args(args))
}

fn run_cmd_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("`ferry {:?}` hung", cmd.get_args().collect::<Vec<_>>());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let o = Command::new("mkfifo").arg(path).output().unwrap();
    assert!(o.status.success(), "mkfifo {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
}

#[cfg(unix)]
fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn edit_toml(src: &Path, from: &str, to: &str) {
    let p = src.join("ferry.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "fixture lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// A copy of the credit-risk source in `t/src`, edited by `edit`, packed: expects exit 2, every needle in
/// the error, and no output left behind.
fn pack_refused(what: &str, edit: impl FnOnce(&Path, &Path), needles: &[&str]) {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    edit(t.path(), &src);
    let outdir = t.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("model.ferry");
    let o = run_bounded(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{what}: expected exit 2, got {}: {err}", code(&o));
    for n in needles {
        let n = n.replace("$SRC", src.to_str().unwrap());
        assert!(err.contains(&n), "{what}: error lacks {n:?}:\n{err}");
    }
    assert!(listing(&outdir).is_empty(), "{what}: left {:?}", listing(&outdir));
}

const NO_LINKS: &str = "a bundle source may hold only regular files below its directory";

#[cfg(unix)]
#[test]
fn pack_refuses_symlinks_anywhere_below_the_source() {
    pack_refused(
        "an extra file linking to /etc/passwd",
        |_, s| {
            edit_toml(
                s,
                "onnx = \"model.onnx\"",
                "onnx = \"model.onnx\"\nextra_files = [\"notes/leak.txt\"]",
            );
            std::fs::create_dir(s.join("notes")).unwrap();
            symlink("/etc/passwd", &s.join("notes/leak.txt"));
        },
        &["$SRC/notes/leak.txt: is a symbolic link to `/etc/passwd`", "key `model.extra_files[0]`", NO_LINKS],
    );
    pack_refused(
        "an extra file linking to /proc/self/environ",
        |_, s| {
            edit_toml(s, "onnx = \"model.onnx\"", "onnx = \"model.onnx\"\nextra_files = [\"env.txt\"]");
            symlink("/proc/self/environ", &s.join("env.txt"));
        },
        &["$SRC/env.txt: is a symbolic link to `/proc/self/environ`", NO_LINKS],
    );
    pack_refused(
        "the model linking out of the source",
        |t, s| {
            std::fs::rename(s.join("model.onnx"), t.join("model.onnx")).unwrap();
            symlink("../model.onnx", &s.join("model.onnx"));
        },
        &["$SRC/model.onnx: is a symbolic link to `../model.onnx`", "key `model.onnx`", NO_LINKS],
    );
    pack_refused(
        "ferry.toml linking out of the source",
        |t, s| {
            std::fs::rename(s.join("ferry.toml"), t.join("ferry.toml")).unwrap();
            symlink(t.join("ferry.toml"), &s.join("ferry.toml"));
        },
        &["$SRC/ferry.toml: is a symbolic link", NO_LINKS],
    );
    pack_refused(
        "a directory on the way linking out of the source",
        |t, s| {
            std::fs::rename(s.join("golden"), t.join("golden")).unwrap();
            symlink("../golden", &s.join("golden"));
        },
        &["$SRC/golden: is a symbolic link to `../golden`", "key `golden[0].inputs`", NO_LINKS],
    );
    pack_refused(
        "the config schema linking to ../..",
        |_, s| {
            std::fs::remove_file(s.join("config.schema.json")).unwrap();
            symlink("../..", &s.join("config.schema.json"));
        },
        &["$SRC/config.schema.json: is a symbolic link to `../..`", "key `config.schema`", NO_LINKS],
    );
    pack_refused(
        "model.sig linking out of the source",
        |_, s| symlink("/etc/passwd", &s.join("model.sig")),
        &["$SRC/model.sig: is a symbolic link to `/etc/passwd`", NO_LINKS],
    );
}

#[cfg(unix)]
#[test]
fn pack_refuses_fifos_and_devices_without_hanging() {
    for (what, file, key) in [
        ("ferry.toml", "ferry.toml", None),
        ("model.sig", "model.sig", None),
        ("the config defaults", "config.json", Some("config.defaults")),
        ("a golden file", "golden/smoke.inputs.npz", Some("golden[0].inputs")),
        ("the model", "model.onnx", Some("model.onnx")),
    ] {
        let mut needles = vec![format!("$SRC/{file}: is a FIFO (named pipe), not a regular file")];
        needles.extend(key.map(|k| format!("key `{k}`")));
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        pack_refused(
            &format!("{what} as a FIFO"),
            |_, s| {
                let p = s.join(file);
                let _ = std::fs::remove_file(&p);
                mkfifo(&p);
            },
            &needles,
        );
    }
    pack_refused(
        "a directory where an extra file should be",
        |_, s| {
            edit_toml(s, "onnx = \"model.onnx\"", "onnx = \"model.onnx\"\nextra_files = [\"golden\"]");
        },
        &["$SRC/golden: is a directory, not a regular file", "key `model.extra_files[0]`"],
    );
}

#[test]
fn pack_refuses_paths_that_leave_the_source() {
    pack_refused(
        "an extra file above the source",
        |t, s| {
            std::fs::write(t.join("secret.txt"), "secret").unwrap();
            edit_toml(s, "onnx = \"model.onnx\"", "onnx = \"model.onnx\"\nextra_files = [\"../secret.txt\"]");
        },
        &["../secret.txt", "`..`"],
    );
}

/// The source directory itself may be reached through a link: it is the user's own path.
#[cfg(unix)]
#[test]
fn pack_accepts_a_source_given_through_a_symlink() {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let link = t.path().join("link");
    symlink(&src, &link);
    let direct = t.path().join("direct.ferry");
    let linked = t.path().join("linked.ferry");
    pack(&src, &direct);
    pack(&link, &linked);
    assert_eq!(std::fs::read(direct).unwrap(), std::fs::read(linked).unwrap());
}

fn packed_credit_risk(dir: &Path) -> PathBuf {
    let out = dir.join("credit-risk.ferry");
    pack(&fixture("credit-risk"), &out);
    out
}

fn smoke_input() -> String {
    fixture("credit-risk").join("golden/smoke.inputs.npz").to_str().unwrap().to_owned()
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_named_on_the_command_line_are_refused_without_hanging() {
    let t = tempdir();
    let bundle = packed_credit_risk(t.path());
    let b = bundle.to_str().unwrap();
    let fifo = |name: &str| {
        let p = t.path().join(name);
        mkfifo(&p);
        p.to_str().unwrap().to_owned()
    };
    let zero = |name: &str| {
        let p = t.path().join(name);
        symlink("/dev/zero", &p);
        p.to_str().unwrap().to_owned()
    };
    let (input_fifo, input_zero) = (fifo("in.npz"), zero("in.npy"));
    let (config_fifo, config_zero) = (fifo("config.json"), zero("config.toml"));
    let (policy_fifo, key_fifo, key_zero) = (fifo("policy.toml"), fifo("key.pub"), zero("key.pem"));
    let smoke = smoke_input();
    let bundle_fifo = fifo("fifo.ferry");
    let unpacked = t.path().join("unpacked").to_str().unwrap().to_owned();
    // `verify --key` reports an unusable key as a failed signature check (exit 1), like a missing one.
    let cases: Vec<(&str, Vec<&str>, String, i32)> = vec![
        ("--input FIFO", vec!["run", b, "--input", &input_fifo], format!("{input_fifo}: is a FIFO"), 2),
        (
            "--input /dev/zero",
            vec!["run", b, "--input", &input_zero],
            format!("{input_zero}: is a character device"),
            2,
        ),
        (
            "--config-file FIFO",
            vec!["run", b, "--input", &smoke, "--config-file", &config_fifo],
            format!("config file `{config_fifo}`: is a FIFO (named pipe), not a regular file"),
            2,
        ),
        (
            "--config-file /dev/zero",
            vec!["run", b, "--input", &smoke, "--config-file", &config_zero],
            format!("config file `{config_zero}`: is a character device, not a regular file"),
            2,
        ),
        (
            "run --policy FIFO",
            vec!["run", b, "--input", &smoke, "--policy", &policy_fifo],
            format!("{policy_fifo}: is a FIFO"),
            2,
        ),
        (
            "verify --policy FIFO",
            vec!["verify", b, "--policy", &policy_fifo],
            format!("{policy_fifo}: is a FIFO"),
            2,
        ),
        ("verify --key FIFO", vec!["verify", b, "--key", &key_fifo], format!("{key_fifo}: is a FIFO"), 1),
        (
            "sign --key /dev/zero",
            vec!["sign", b, "--key", &key_zero],
            format!("{key_zero}: is a character device"),
            2,
        ),
        ("inspect FIFO", vec!["inspect", &bundle_fifo], format!("{bundle_fifo}: is a FIFO"), 2),
        ("unpack FIFO", vec!["unpack", &bundle_fifo, &unpacked], format!("{bundle_fifo}: is a FIFO"), 2),
    ];
    for (what, args, needle, expected) in cases {
        let o = run_bounded(&args);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(code(&o), expected, "{what}: expected exit {expected}, got {}: {text}", code(&o));
        assert!(text.contains(&needle), "{what}: output lacks {needle:?}:\n{text}");
    }
}

/// A configuration file is small by nature: one of 17 MiB is refused before it is read.
#[test]
fn oversized_small_files_are_refused() {
    let t = tempdir();
    let bundle = packed_credit_risk(t.path());
    let big = t.path().join("config.json");
    std::fs::File::create(&big).unwrap().set_len(17 << 20).unwrap();
    let o = run_bounded(&[
        "run",
        bundle.to_str().unwrap(),
        "--input",
        &smoke_input(),
        "--config-file",
        big.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("is 17825792 bytes, more than the 16777216-byte limit"), "{}", stderr(&o));
}

/// An `.npy` header for a float32 tensor of `shape`.
fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A ~1 MB `.npz` whose member `features.npy` honestly declares (and holds, deflated) `shape` of
/// float32 zeros.
fn npz_bomb(path: &Path, shape: &[usize]) {
    let header = npy_header(shape);
    let data_len: u64 = shape.iter().map(|&d| d as u64).product::<u64>() * 4;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(header.len() as u64 + data_len >= u64::from(u32::MAX));
    zip.start_file("features.npy", options).unwrap();
    zip.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = data_len;
    while left > 0 {
        let n = left.min(zeros.len() as u64);
        zip.write_all(&zeros[..n as usize]).unwrap();
        left -= n;
    }
    zip.finish().unwrap();
}

/// Peak resident memory (KiB) of `ferry ARGS`, with its output, when `/usr/bin/time` is there to say.
fn peak_rss_kib(args: &[&str]) -> (Option<u64>, Output) {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return (None, run_bounded(args));
    }
    let report = tempdir();
    let report_file = report.path().join("rss");
    let o = run_cmd_bounded(
        Command::new(time)
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&report_file)
            .arg(env!("CARGO_BIN_EXE_ferry"))
            .args(args),
    );
    let kib = std::fs::read_to_string(&report_file).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    (kib, o)
}

#[test]
fn a_request_declaring_more_than_the_contract_is_refused_from_its_header() {
    let t = tempdir();
    let bundle = packed_credit_risk(t.path());
    let b = bundle.to_str().unwrap();

    // 20 million rows of 14 float32 features: 1.12 GB of zeros in a ~1 MB file.
    let bomb = t.path().join("bomb.npz");
    npz_bomb(&bomb, &[20_000_000, 14]);
    assert!(std::fs::metadata(&bomb).unwrap().len() < 4 << 20);
    let (normal_rss, normal) = peak_rss_kib(&["run", b, "--input", &smoke_input()]);
    assert_eq!(code(&normal), 0, "{}", stderr(&normal));
    let (bomb_rss, o) = peak_rss_kib(&["run", b, "--input", bomb.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    for needle in [
        format!("{}: tensor `features` declares float32 [20000000, 14], refused before reading its data", bomb.display()),
        "input `features`: shape [20000000, 14] holds 280000000 elements, more than the 67108864 this runtime accepts for the contract's [batch, 14]".to_owned(),
    ] {
        assert!(err.contains(&needle), "error lacks {needle:?}:\n{err}");
    }
    if let (Some(normal_rss), Some(bomb_rss)) = (normal_rss, bomb_rss) {
        assert!(
            bomb_rss <= 2 * normal_rss,
            "the bomb peaked at {bomb_rss} KiB, a normal request at {normal_rss} KiB"
        );
    }

    // A fixed dim the file contradicts: refused at the header, whatever the size.
    let wide = t.path().join("wide.npz");
    npz_bomb(&wide, &[1, 1 << 24]);
    let o = run_bounded(&["run", b, "--input", wide.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("tensor `features` declares float32 [1, 16777216], refused before reading its data: input `features`: axis 1 has size 16777216, the contract fixes it at 14"),
        "{}",
        stderr(&o)
    );

    // A giant shape in a 128-byte .npy (the lone tensor stands for the single input).
    let giant = t.path().join("giant.npy");
    std::fs::write(&giant, npy_header(&[1 << 40, 14])).unwrap();
    let o = run_bounded(&["run", b, "--input", giant.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("tensor `giant` declares float32 [1099511627776, 14]"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("input `features`: shape [1099511627776, 14] holds 15393162788864 elements"),
        "{}",
        stderr(&o)
    );

    // The same rule in JSON: the declared shape is checked before the data is converted.
    let json = t.path().join("giant.json");
    std::fs::write(&json, r#"{"features": {"dtype": "float32", "shape": [100000000, 14], "data": []}}"#)
        .unwrap();
    let o = run_bounded(&["run", b, "--input", json.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("tensor `features` declares float32 [100000000, 14]"), "{}", stderr(&o));

    // The limit is the host's to raise.
    let o = run_bounded(&["run", b, "--input", giant.to_str().unwrap(), "--max-input-elements", "100"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("more than the 100 this runtime accepts"), "{}", stderr(&o));
}

#[test]
fn thread_counts_above_the_cap_are_refused() {
    let t = tempdir();
    let bundle = packed_credit_risk(t.path());
    let b = bundle.to_str().unwrap();
    let cap = ferry_runtime::max_threads();
    let o = run_bounded(&["run", b, "--input", &smoke_input(), "--threads", "1000000"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let needle = format!(
        "--threads 1000000: more than the {cap} threads allowed on this machine (4 per core, at most 1024)"
    );
    assert!(stderr(&o).contains(&needle), "{}", stderr(&o));

    let o = run_bounded(&["run", b, "--input", &smoke_input(), "--config", "intra_op_threads=2000"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let needle =
        format!("config /intra_op_threads = 2000 is more than the {cap} threads allowed on this machine");
    assert!(stderr(&o).contains(&needle), "{}", stderr(&o));

    // At the cap is fine.
    let o = run_bounded(&["run", b, "--input", &smoke_input(), "--threads", &cap.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `init --sample` and `ferry golden` read tensor files a user hands them: a ~1 MB `.npz` declaring
/// 280 million float32 elements is refused from its header (exit 2, naming the file), before anything is
/// inflated, and leaves nothing behind; `init` also refuses a sample tensor that is not a model input.
#[test]
fn init_and_golden_refuse_a_sample_bomb_from_its_header() {
    let t = tempdir();
    let bomb = t.path().join("bomb.npz");
    npz_bomb(&bomb, &[20_000_000, 14]);
    let model = fixture("credit-risk").join("model.onnx");
    let src = t.path().join("src");
    let (rss, o) = peak_rss_kib(&[
        "init",
        model.to_str().unwrap(),
        src.to_str().unwrap(),
        "--sample",
        bomb.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bomb.npz") && stderr(&o).contains("more than 67108864 elements in all"),
        "{}",
        stderr(&o)
    );
    assert!(!src.exists());
    let out = t.path().join("g.npz");
    let (golden_rss, o) = peak_rss_kib(&["golden", "-o", out.to_str().unwrap(), bomb.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bomb.npz") && stderr(&o).contains("more than 67108864 elements in all"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    for kib in [rss, golden_rss].into_iter().flatten() {
        assert!(kib < 256 << 10, "peaked at {kib} KiB");
    }

    let stray = t.path().join("stray.npz");
    let tensors = ferry_tensor::TensorMap::from([
        (
            "features".to_owned(),
            ferry_tensor::Tensor::new(vec![1, 14], ferry_tensor::TensorData::F32(vec![1.0; 14])).unwrap(),
        ),
        (
            "label".to_owned(),
            ferry_tensor::Tensor::new(vec![1], ferry_tensor::TensorData::F32(vec![0.0])).unwrap(),
        ),
    ]);
    ferry_tensor::write_file(&stray, &tensors).unwrap();
    let o = run_bounded(&[
        "init",
        model.to_str().unwrap(),
        src.to_str().unwrap(),
        "--sample",
        stray.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("`label` is not an input of the model"), "{}", stderr(&o));
}
