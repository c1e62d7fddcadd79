//! The backtest's working state in `DIR/.checkpoint/`, so a long backtest
//! interrupted (killed, throttled to a stop, credentials expired) continues
//! where it stopped when the same command runs again.
//!
//! Each finished job appends its incident records, its decide requests and
//! its experience lines to three files, syncs them, then appends one line to
//! `jobs.jsonl` naming the byte ranges it wrote: that line is the commit.
//! On resume, anything past the last committed range (a job cut off while
//! writing) is truncated away and committed jobs are skipped. `state.json`
//! pins the window and the arguments, so a rerun with other arguments is
//! refused instead of mixing two backtests. Once the report is written the
//! checkpoint is removed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::backtest::reader::{JobNotes, JobResult};

pub const CHECKPOINT_DIR: &str = ".checkpoint";
const FORMAT: &str = "etl-medic-backtest-checkpoint/1";

/// What a backtest was started with; a rerun must match it to continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: String,
    /// Arguments, policy version and a hash of the settings.
    pub fingerprint: String,
    pub window: crate::backtest::window::Window,
    /// The end of observation, fixed at the first run so a resumed backtest
    /// judges every incident at the same moment.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A byte range of one of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

/// One committed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEntry {
    pub job: String,
    pub failures: u32,
    pub incidents: u32,
    pub incident_span: Span,
    pub request_span: Span,
    pub experience_span: Span,
    pub notes: JobNotes,
}

/// The data files, in the order of `JobEntry`'s spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFile {
    Incidents,
    Requests,
    Experience,
}

impl DataFile {
    const ALL: [DataFile; 3] = [DataFile::Incidents, DataFile::Requests, DataFile::Experience];

    fn name(self) -> &'static str {
        match self {
            DataFile::Incidents => "incidents.jsonl",
            DataFile::Requests => "requests.jsonl",
            DataFile::Experience => "experience.jsonl",
        }
    }

    fn span(self, entry: &JobEntry) -> Span {
        match self {
            DataFile::Incidents => entry.incident_span,
            DataFile::Requests => entry.request_span,
            DataFile::Experience => entry.experience_span,
        }
    }
}

pub struct Checkpoint {
    directory: PathBuf,
    pub state: CheckpointState,
    /// Committed jobs by name.
    pub jobs: BTreeMap<String, JobEntry>,
    files: Vec<File>,
    jobs_file: File,
}

/// Opening a checkpoint: fresh, resumed, or one of another backtest.
pub enum Opened {
    Ready(Checkpoint),
    /// The directory holds a backtest started with other arguments.
    Mismatch {
        existing: CheckpointState,
    },
}

impl Checkpoint {
    /// Open `out/.checkpoint`, creating it with `state` when absent, or
    /// resuming it when its fingerprint is `state`'s.
    pub fn open(out: &Path, state: CheckpointState) -> anyhow::Result<Opened> {
        let directory = out.join(CHECKPOINT_DIR);
        std::fs::create_dir_all(&directory).with_context(|| format!("creating {}", directory.display()))?;
        let state_path = directory.join("state.json");
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => {
                let existing: CheckpointState = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a backtest checkpoint", state_path.display()))?;
                if existing.format != FORMAT || existing.fingerprint != state.fingerprint {
                    return Ok(Opened::Mismatch { existing });
                }
                existing
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let state = CheckpointState { format: FORMAT.to_string(), ..state };
                let text = serde_json::to_string_pretty(&state).context("encoding the checkpoint state")?;
                write_atomically(&state_path, text.as_bytes())?;
                state
            }
            Err(error) => return Err(error).with_context(|| format!("reading {}", state_path.display())),
        };
        let (jobs, committed_len) = read_jobs(&directory.join("jobs.jsonl"))?;
        let jobs_file = open_truncated(&directory.join("jobs.jsonl"), committed_len)?;
        let mut files = Vec::new();
        for data in DataFile::ALL {
            let end = jobs.values().map(|entry| data.span(entry)).map(|span| span.offset + span.len).max().unwrap_or(0);
            files.push(open_truncated(&directory.join(data.name()), end)?);
        }
        Ok(Opened::Ready(Checkpoint { directory, state, jobs, files, jobs_file }))
    }

    /// Remove the checkpoint once the report it served is written: the next
    /// run of the command is then a new backtest, with a new "now".
    pub fn remove(self) -> anyhow::Result<()> {
        let directory = self.directory.clone();
        drop(self);
        std::fs::remove_dir_all(&directory).with_context(|| format!("removing {}", directory.display()))
    }

    pub fn is_done(&self, job: &str) -> bool {
        self.jobs.contains_key(job)
    }

    /// Append a finished job's data, sync it, then commit its entry.
    pub fn commit(&mut self, result: &JobResult) -> anyhow::Result<()> {
        let mut spans = [Span::default(); 3];
        let blocks = [&result.incidents_lines(), &result.requests, &result.experience];
        for ((file, lines), span) in self.files.iter_mut().zip(blocks).zip(spans.iter_mut()) {
            let offset = file.seek(SeekFrom::End(0))?;
            let mut bytes = Vec::new();
            for line in lines.iter() {
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
            }
            file.write_all(&bytes)?;
            file.sync_data()?;
            *span = Span { offset, len: bytes.len() as u64 };
        }
        let entry = JobEntry {
            job: result.job.clone(),
            failures: result.failures,
            incidents: result.incidents.len() as u32,
            incident_span: spans[0],
            request_span: spans[1],
            experience_span: spans[2],
            notes: result.notes.clone(),
        };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.jobs_file.write_all(&line)?;
        self.jobs_file.sync_data()?;
        self.jobs.insert(entry.job.clone(), entry);
        Ok(())
    }

    /// The lines one job wrote to a data file.
    pub fn lines(&self, data: DataFile, entry: &JobEntry) -> anyhow::Result<Vec<String>> {
        let span = data.span(entry);
        let mut file = File::open(self.directory.join(data.name()))?;
        file.seek(SeekFrom::Start(span.offset))?;
        let mut bytes = vec![0_u8; span.len as usize];
        file.read_exact(&mut bytes)?;
        let text = String::from_utf8(bytes).context("a checkpoint file is not UTF-8")?;
        Ok(text.lines().map(str::to_string).collect())
    }
}

impl JobResult {
    /// The job's incident records, one JSON line each.
    pub fn incidents_lines(&self) -> Vec<String> {
        self.incidents.iter().map(|incident| serde_json::to_string(incident).unwrap_or_default()).collect()
    }
}

/// Committed entries, and the length of the file up to the last whole line.
fn read_jobs(path: &Path) -> anyhow::Result<(BTreeMap<String, JobEntry>, u64)> {
    let mut jobs = BTreeMap::new();
    let Ok(file) = File::open(path) else { return Ok((jobs, 0)) };
    let mut reader = BufReader::new(file);
    let mut committed = 0_u64;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        match serde_json::from_str::<JobEntry>(line.trim_end()) {
            Ok(entry) => {
                jobs.insert(entry.job.clone(), entry);
                committed += read as u64;
            }
            Err(_) => break,
        }
    }
    Ok((jobs, committed))
}

fn open_truncated(path: &Path, length: u64) -> anyhow::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if file.metadata()?.len() > length {
        file.set_len(length).with_context(|| format!("truncating {}", path.display()))?;
    }
    Ok(file)
}

/// Write `bytes` to `path` through a temporary file in the same directory
/// and a rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut writer = AtomicFile::create(path)?;
    writer.write_all(bytes)?;
    writer.commit()
}

/// A file written under a temporary name and renamed into place on commit;
/// dropped uncommitted, it is removed.
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    file: Option<std::io::BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: &Path) -> anyhow::Result<AtomicFile> {
        let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let file = File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
        Ok(AtomicFile { target: target.to_path_buf(), temporary, file: Some(std::io::BufWriter::new(file)) })
    }

    pub fn commit(mut self) -> anyhow::Result<()> {
        if let Some(writer) = self.file.take() {
            let file = writer.into_inner().map_err(|error| error.into_error())?;
            file.sync_all()?;
        }
        std::fs::rename(&self.temporary, &self.target)
            .with_context(|| format!("renaming {} to {}", self.temporary.display(), self.target.display()))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        match self.file.as_mut() {
            Some(file) => file.write(buffer),
            None => Err(std::io::Error::other("already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn temp_dir(name: &str) -> PathBuf {
        let directory = std::env::temp_dir().join(format!("etl-medic-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        directory
    }

    fn state(fingerprint: &str) -> CheckpointState {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        CheckpointState {
            format: String::new(),
            fingerprint: fingerprint.into(),
            window: crate::backtest::window::Window { from: now - chrono::Duration::days(30), to: now },
            now,
        }
    }

    fn job(name: &str, requests: &[&str]) -> JobResult {
        JobResult {
            job: name.into(),
            failures: requests.len() as u32,
            requests: requests.iter().map(|line| line.to_string()).collect(),
            ..JobResult::default()
        }
    }

    fn open(directory: &Path, fingerprint: &str) -> Checkpoint {
        match Checkpoint::open(directory, state(fingerprint)).unwrap() {
            Opened::Ready(checkpoint) => checkpoint,
            Opened::Mismatch { .. } => panic!("mismatch"),
        }
    }

    #[test]
    fn a_resumed_checkpoint_keeps_committed_jobs_and_drops_a_torn_one() {
        let directory = temp_dir("resume");
        let mut checkpoint = open(&directory, "a");
        checkpoint.commit(&job("orders", &["{\"r\":1}", "{\"r\":2}"])).unwrap();
        drop(checkpoint);
        // A job that died while writing: data appended, no commit line, and half a line.
        let requests = directory.join(CHECKPOINT_DIR).join("requests.jsonl");
        std::fs::OpenOptions::new().append(true).open(&requests).unwrap().write_all(b"{\"torn\":").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(directory.join(CHECKPOINT_DIR).join("jobs.jsonl"))
            .unwrap()
            .write_all(b"{\"job\":\"half")
            .unwrap();
        let mut resumed = open(&directory, "a");
        assert!(resumed.is_done("orders"));
        assert!(!resumed.is_done("half"));
        resumed.commit(&job("clicks", &["{\"r\":3}"])).unwrap();
        let clicks = resumed.jobs["clicks"].clone();
        assert_eq!(resumed.lines(DataFile::Requests, &clicks).unwrap(), vec!["{\"r\":3}".to_string()]);
        let orders = resumed.jobs["orders"].clone();
        assert_eq!(resumed.lines(DataFile::Requests, &orders).unwrap().len(), 2);
        assert!(!std::fs::read_to_string(&requests).unwrap().contains("torn"));
        assert!(matches!(Checkpoint::open(&directory, state("b")).unwrap(), Opened::Mismatch { .. }));
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn an_atomic_file_appears_whole_or_not_at_all() {
        let directory = temp_dir("atomic");
        let target = directory.join("report.json");
        let mut abandoned = AtomicFile::create(&target).unwrap();
        abandoned.write_all(b"{\"half\":").unwrap();
        drop(abandoned);
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&directory).unwrap().count(), 0, "the temporary file is removed");
        write_atomically(&target, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
        let _ = std::fs::remove_dir_all(&directory);
    }
}
