//! The checks of `[log]` and `[telemetry]` (both restart-only): the access log's destination,
//! format and back-pressure, and where OpenTelemetry spans go and how many.

use std::path::Path;

use super::{Checker, Value};
use crate::config::{LogConfig, LogFormat, OnFull, TelemetryConfig};
use crate::constants as C;
use crate::diagnostic::did_you_mean;
use crate::units::parse_size;

impl Checker<'_> {
    pub(super) fn log(
        &mut self,
        file: Option<Value>,
        format: Option<Value>,
        on_full: Option<Value>,
        buffer: Option<Value>,
    ) -> LogConfig {
        let defaults = LogConfig::default();
        LogConfig {
            file: file.and_then(|v| self.log_file(&v)),
            format: format
                .and_then(|v| {
                    self.choice(
                        &v,
                        "log.format",
                        &[("json", LogFormat::Json), ("text", LogFormat::Text)],
                    )
                })
                .unwrap_or(defaults.format),
            on_full: on_full
                .and_then(|v| {
                    self.choice(
                        &v,
                        "log.on_full",
                        &[("drop", OnFull::Drop), ("block", OnFull::Block)],
                    )
                })
                .unwrap_or(defaults.on_full),
            buffer: buffer.map_or(defaults.buffer, |v| self.log_buffer(&v)),
        }
    }

    pub(super) fn telemetry(
        &mut self,
        endpoint: Option<Value>,
        ratio: Option<Value>,
    ) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.and_then(|v| self.http_url(&v, "telemetry.otlp_endpoint")),
            sample_ratio: ratio.map_or(C::TRACE_SAMPLE_RATIO, |v| self.ratio(&v)),
        }
    }

    /// The file need not exist (it is created), but its folder must.
    fn log_file(&mut self, v: &Value) -> Option<std::path::PathBuf> {
        let text = self.text(v, "log.file")?;
        if text.trim().is_empty() {
            self.at(
                v,
                "log.file",
                "must not be empty; leave `file` out to log to stderr",
            );
            return None;
        }
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let resolved = folder.join(&text);
        if resolved.is_dir() {
            self.at(
                v,
                "log.file",
                format!("`{}` is a directory; name a file in it", resolved.display()),
            );
            return None;
        }
        match resolved.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => {
                self.at(
                    v,
                    "log.file",
                    format!(
                        "folder `{}` does not exist (relative paths start from the config file's folder)",
                        parent.display()
                    ),
                );
                None
            }
            _ => Some(resolved),
        }
    }

    fn choice<T: Copy>(&mut self, v: &Value, key: &str, choices: &[(&str, T)]) -> Option<T> {
        let text = self.text(v, key)?;
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        let hint = did_you_mean(&text, names.iter().copied());
        self.at(
            v,
            key,
            format!("`{text}` is not one of {}{hint}", names.join(", ")),
        );
        None
    }

    fn log_buffer(&mut self, v: &Value) -> usize {
        let default = C::LOG_BUFFER as usize;
        let bytes = match &v.value {
            toml::Value::String(s) => parse_size(s),
            toml::Value::Integer(n) => {
                u64::try_from(*n).map_err(|_| "a size cannot be negative".to_owned())
            }
            other => Err(format!(
                "expected a size such as \"4MiB\", found {}",
                other.type_str()
            )),
        };
        match bytes {
            // Smaller than one batch would make every line its own write.
            Ok(n) if n < C::ACCESS_LOG_BATCH_BYTES as u64 => {
                self.at(
                    v,
                    "log.buffer",
                    format!(
                        "must be at least {} KiB (one write batch)",
                        C::ACCESS_LOG_BATCH_BYTES / 1024
                    ),
                );
                default
            }
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => {
                self.at(v, "log.buffer", e);
                default
            }
        }
    }

    fn ratio(&mut self, v: &Value) -> f64 {
        let number = match &v.value {
            toml::Value::Float(f) => Some(*f),
            toml::Value::Integer(n) => Some(*n as f64),
            _ => None,
        };
        match number {
            Some(n) if (0.0..=1.0).contains(&n) => n,
            _ => {
                self.at(
                    v,
                    "telemetry.sample_ratio",
                    "expected a number from 0.0 (no new trace sampled) to 1.0 (every one), e.g. 0.01",
                );
                C::TRACE_SAMPLE_RATIO
            }
        }
    }
}
