//! Memory: the peak resident set (`VmHWM`) of one function process after serving `count` new
//! events one after another under the emulator. The emulator's own "Max Memory Used" is shown too,
//! but it only repeats the configured memory size (it measures nothing outside Lambda).

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, answer_body, stored};
use crate::procfs;

pub struct Memory {
    pub peak_rss_mib: f64,
    pub emulator_max_memory_used_mb: Option<f64>,
}

pub async fn peak(bench: &Bench, function: Function, count: usize) -> Result<Memory, String> {
    let emulator = Emulator::start(&bench.rie, &bench.program(function)?, &bench.env).await?;
    let result = async {
        for _ in 0..count {
            let answer = emulator.invoke(bench.events.new_event(function)).await?;
            if !stored(function, &answer) {
                return Err(format!("answered {:?}", answer_body(&answer)));
            }
        }
        let pid = emulator.function_pid().ok_or("no function process")?;
        let reports = emulator.reports_after(count - 1, 1).await;
        Ok(Memory {
            peak_rss_mib: procfs::peak_rss_mib(pid).ok_or("no /proc status")?,
            emulator_max_memory_used_mb: reports.last().and_then(|r| r.max_memory_used_mb),
        })
    }
    .await;
    emulator.stop();
    result
}
