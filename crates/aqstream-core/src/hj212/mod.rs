//! The HJ 212-2017 codec (污染物在线监控（监测）系统数据传输标准).
//!
//! * [`frame`] — the envelope (`##`, length, CRC, CRLF) and header fields;
//! * [`crc`] — the check code (not CRC-16/MODBUS);
//! * [`units`] — per-deployment units of incoming factors;
//! * this module — data commands (`CN` 2011/2051/2061/2031) to and from [`Reading`]s,
//!   and the replies (9011/9012/9014) for terminals that ask for acknowledgement.
//!
//! Event time: `DataTime` is China Standard Time. For real-time data (2011) `ts` is
//! `DataTime`; for minute, hour and day data `DataTime` marks the start of the period
//! and `ts` is its end.

pub mod crc;
pub mod frame;
pub mod units;

pub use frame::{Frame, lines, parse_frame, wrap};
pub use units::{Unit, UnitTable};

use crate::measure::{Measure, N_MEASURES};
use crate::reading::{FlagKind, Reading};
use crate::reject::{Reject, RejectReason};
use crate::time::{
    DAY_MS, EpochMillis, HOUR_MS, MINUTE_MS, format_hj212_qn, format_hj212_time, parse_hj212_time,
};
use std::fmt::Write as _;

/// System code of ambient air quality monitoring.
pub const ST_AIR: &str = "22";
/// System code of system interaction (replies).
pub const ST_SYSTEM: &str = "91";

/// The data upload commands aqstream accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataCommand {
    /// `2011` real-time data (`-Rtd`), an instantaneous sample: `period_s` 0.
    RealTime,
    /// `2051` minute data (`-Avg`).
    Minute,
    /// `2061` hour data (`-Avg`).
    Hour,
    /// `2031` day data (`-Avg`).
    Day,
}

impl DataCommand {
    /// Every data command.
    pub const ALL: [DataCommand; 4] = [
        DataCommand::RealTime,
        DataCommand::Minute,
        DataCommand::Hour,
        DataCommand::Day,
    ];

    /// The `CN` code.
    pub const fn code(self) -> &'static str {
        match self {
            DataCommand::RealTime => "2011",
            DataCommand::Minute => "2051",
            DataCommand::Hour => "2061",
            DataCommand::Day => "2031",
        }
    }

    /// The command of a `CN` code.
    pub fn from_code(cn: &str) -> Option<DataCommand> {
        DataCommand::ALL.into_iter().find(|c| c.code() == cn)
    }

    /// The length of the period, in milliseconds (0 for real-time samples).
    pub const fn period_ms(self) -> i64 {
        match self {
            DataCommand::RealTime => 0,
            DataCommand::Minute => MINUTE_MS,
            DataCommand::Hour => HOUR_MS,
            DataCommand::Day => DAY_MS,
        }
    }

    /// The command whose period is `period_s` seconds.
    pub fn from_period_s(period_s: u32) -> Option<DataCommand> {
        DataCommand::ALL
            .into_iter()
            .find(|c| c.period_ms() == i64::from(period_s) * 1000)
    }

    /// The value suffix the command carries (`Rtd` or `Avg`).
    pub const fn value_suffix(self) -> &'static str {
        match self {
            DataCommand::RealTime => "Rtd",
            _ => "Avg",
        }
    }
}

/// The factor code of each measure, in [`Measure`] index order.
const FACTORS: [&str; N_MEASURES] = [
    "a34004", // PM2.5
    "a34002", // PM10
    "a21004", // NO2
    "a21026", // SO2
    "a05024", // O3
    "a21005", // CO
    "a01001", // temperature
    "a01002", // relative humidity
    "a01006", // pressure
    "a01007", // wind speed
    "a01008", // wind direction
];

/// The HJ 212 factor code of a measure (`a34004` for PM2.5, …).
pub fn factor_code(m: Measure) -> &'static str {
    FACTORS[m.index()]
}

/// Packs a factor code of up to 8 bytes into an integer, for fast matching.
const fn pack(code: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < code.len() && i < 8 {
        v = (v << 8) | code[i] as u64;
        i += 1;
    }
    v | ((code.len() as u64) << 56)
}

/// The measure of a factor code, if it is one aqstream uses.
pub fn measure_of_factor(code: &str) -> Option<Measure> {
    const PM25: u64 = pack(b"a34004");
    const PM10: u64 = pack(b"a34002");
    const NO2: u64 = pack(b"a21004");
    const SO2: u64 = pack(b"a21026");
    const O3: u64 = pack(b"a05024");
    const CO: u64 = pack(b"a21005");
    const TEMP: u64 = pack(b"a01001");
    const RH: u64 = pack(b"a01002");
    const PRESSURE: u64 = pack(b"a01006");
    const WIND_SPEED: u64 = pack(b"a01007");
    const WIND_DIR: u64 = pack(b"a01008");
    if code.len() != 6 {
        return None;
    }
    Some(match pack(code.as_bytes()) {
        PM25 => Measure::Pm25,
        PM10 => Measure::Pm10,
        NO2 => Measure::No2,
        SO2 => Measure::So2,
        O3 => Measure::O3,
        CO => Measure::Co,
        TEMP => Measure::TempC,
        RH => Measure::Rh,
        PRESSURE => Measure::PressureHpa,
        WIND_SPEED => Measure::WindSpeed,
        WIND_DIR => Measure::WindDir,
        _ => return None,
    })
}

/// Parses a factor value: a plain decimal number (no `NaN`, `inf`, hex, spaces).
fn parse_value(v: &str) -> Option<f64> {
    crate::num::parse_lenient(v.as_bytes()).filter(|x| x.is_finite())
}

/// Decodes HJ 212 frames into readings and encodes readings into frames.
#[derive(Debug, Clone, Default)]
pub struct Hj212Codec {
    /// Units the deployment's terminals send, per measure.
    pub units: UnitTable,
}

impl Hj212Codec {
    /// A codec with the given unit table.
    pub fn new(units: UnitTable) -> Hj212Codec {
        Hj212Codec { units }
    }

    /// Decodes one line (one frame) into a reading.
    pub fn decode(&self, line: &[u8]) -> Result<Reading, Reject> {
        self.reading_of(&parse_frame(line)?)
    }

    /// The reading carried by an already parsed frame.
    pub fn reading_of(&self, f: &Frame<'_>) -> Result<Reading, Reject> {
        if f.st != ST_AIR {
            return Err(Reject::new(
                RejectReason::UnsupportedFrame,
                format!("ST={} is not ambient air quality (22)", f.st),
            ));
        }
        let cmd = DataCommand::from_code(f.cn).ok_or_else(|| {
            Reject::new(
                RejectReason::UnsupportedFrame,
                format!("CN={} is not a data upload (2011, 2051, 2061, 2031)", f.cn),
            )
        })?;
        let mut data_time = None;
        let mut rtd = [None; N_MEASURES];
        let mut avg = [None; N_MEASURES];
        let mut seen = [0u8; N_MEASURES]; // bit 0 Rtd, 1 Avg, 2 Flag
        let mut flags = [false; N_MEASURES];
        let cp = f.cp.as_bytes();
        let mut i = 0;
        while i < cp.len() {
            // One `key=value` item, up to the next `;` or `,`: the key up to `=`, then
            // the value up to the delimiter.
            let start = i;
            while i < cp.len() && !matches!(cp[i], b'=' | b';' | b',') {
                i += 1;
            }
            let eq = i;
            if eq < cp.len() && cp[eq] == b'=' {
                i += 1;
                while i < cp.len() && cp[i] != b';' && cp[i] != b',' {
                    i += 1;
                }
            }
            let end = i;
            i += 1;
            if end == start {
                continue;
            }
            if eq == end {
                return Err(Reject::new(
                    RejectReason::BadFrame,
                    format!(
                        "CP item `{}` is not `key=value`",
                        shorten(&f.cp[start..end])
                    ),
                ));
            }
            let (k, v) = (&f.cp[start..eq], &f.cp[eq + 1..end]);
            if k == "DataTime" {
                if data_time.replace(v).is_some() {
                    return Err(Reject::new(
                        RejectReason::DuplicateField,
                        "`DataTime` appears twice",
                    ));
                }
                continue;
            }
            // Factor keys are `aNNNNN-Suffix`.
            if k.len() < 8 || k.as_bytes()[6] != b'-' {
                continue;
            }
            let Some(m) = measure_of_factor(&k[..6]) else {
                continue;
            };
            let bit = match &k[7..] {
                "Rtd" => 1,
                "Avg" => 2,
                "Flag" => 4,
                _ => continue, // Min, Max, Cou, SampleTime, EFlag, ZsRtd …
            };
            if seen[m.index()] & bit != 0 {
                return Err(Reject::new(
                    RejectReason::DuplicateField,
                    format!("factor `{k}` appears twice"),
                ));
            }
            seen[m.index()] |= bit;
            if bit == 4 {
                flags[m.index()] = v != "N";
                continue;
            }
            let x = parse_value(v).ok_or_else(|| {
                Reject::new(
                    RejectReason::BadValue,
                    format!(
                        "factor `{k}` ({}): `{}` is not a number",
                        m.field(),
                        shorten(v)
                    ),
                )
            })?;
            if bit == 1 {
                rtd[m.index()] = Some(x);
            } else {
                avg[m.index()] = Some(x);
            }
        }
        let dt = data_time.ok_or_else(|| {
            Reject::new(RejectReason::MissingField, "CP field `DataTime` is missing")
        })?;
        let start = parse_hj212_time(dt)
            .map_err(|e| Reject::new(RejectReason::BadTimestamp, format!("`DataTime`: {e}")))?;
        let ts = start + cmd.period_ms();
        let mut r = Reading::new(f.mn, ts, (cmd.period_ms() / 1000) as u32);
        for m in Measure::ALL {
            let i = m.index();
            let (first, second) = if cmd == DataCommand::RealTime {
                (rtd[i], avg[i])
            } else {
                (avg[i], rtd[i])
            };
            if let Some(v) = first.or(second) {
                r.set(m, Some(self.units.to_canonical(m, v)));
                if flags[i] {
                    r.flags.set(m, FlagKind::DeviceFlag);
                }
            }
        }
        if !r.has_measurement() {
            return Err(Reject::new(
                RejectReason::NoMeasurement,
                "the frame carries none of the factors aqstream uses",
            ));
        }
        Ok(r)
    }

    /// Encodes `r` as a data upload frame. The command follows `r.period_s`
    /// (0 → 2011, 60 → 2051, 3600 → 2061, 86 400 → 2031).
    pub fn encode(&self, r: &Reading, opts: &EncodeOptions) -> Result<String, Reject> {
        let cmd = DataCommand::from_period_s(r.period_s).ok_or_else(|| {
            Reject::new(
                RejectReason::UnsupportedFrame,
                format!("no HJ 212 data command has a period of {} s", r.period_s),
            )
        })?;
        let mut d = String::with_capacity(512);
        if let Some(qn) = opts.qn {
            let _ = write!(d, "QN={};", format_hj212_qn(qn));
        }
        let _ = write!(
            d,
            "ST={ST_AIR};CN={};PW={};MN={};Flag={};CP=&&DataTime={}",
            cmd.code(),
            opts.pw,
            r.sensor_id,
            if opts.ack { 5 } else { 4 },
            format_hj212_time(r.ts - cmd.period_ms())
        );
        for m in Measure::ALL {
            if let Some(v) = r.get(m) {
                let code = factor_code(m);
                let flag = if r.flags.has(m, FlagKind::DeviceFlag) {
                    "D"
                } else {
                    "N"
                };
                let _ = write!(
                    d,
                    ";{code}-{}={},{code}-Flag={flag}",
                    cmd.value_suffix(),
                    self.units.from_canonical(m, v)
                );
            }
        }
        d.push_str("&&");
        frame::wrap(&d)
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(24).collect()
}

/// Options of [`Hj212Codec::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Access password (`PW`).
    pub pw: String,
    /// Request id time (`QN`), if the frame should carry one.
    pub qn: Option<EpochMillis>,
    /// Ask the receiver for a 9014 acknowledgement (`Flag=5` instead of `4`).
    pub ack: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            pw: "123456".into(),
            qn: None,
            ack: false,
        }
    }
}

/// `QnRtn` codes of a 9011 request reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum QnRtn {
    /// 1 — ready to execute the request.
    Ready = 1,
    /// 2 — request refused.
    Refused = 2,
    /// 3 — wrong password.
    BadPassword = 3,
    /// 4 — wrong MN.
    BadMn = 4,
    /// 5 — wrong ST.
    BadSt = 5,
    /// 6 — wrong Flag.
    BadFlag = 6,
    /// 7 — wrong QN.
    BadQn = 7,
    /// 8 — wrong CN.
    BadCn = 8,
    /// 9 — CRC error.
    BadCrc = 9,
    /// 100 — unknown error.
    Unknown = 100,
}

/// `ExeRtn` codes of a 9012 execution result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExeRtn {
    /// 1 — executed.
    Success = 1,
    /// 2 — failed, reason unknown.
    Failed = 2,
    /// 3 — request conditions wrong.
    BadCondition = 3,
    /// 4 — communication timeout.
    Timeout = 4,
    /// 5 — busy.
    Busy = 5,
    /// 6 — system fault.
    Fault = 6,
    /// 100 — no data.
    NoData = 100,
}

fn reply(f: &Frame<'_>, cn: &str, cp: &str) -> String {
    let mut d = String::with_capacity(96);
    if let Some(qn) = f.qn {
        let _ = write!(d, "QN={qn};");
    }
    let _ = write!(
        d,
        "ST={ST_SYSTEM};CN={cn};PW={};MN={};Flag=4;CP=&&{cp}&&",
        f.pw.unwrap_or(""),
        f.mn
    );
    // A reply built from a parsed frame is far below the length limit.
    frame::wrap(&d).unwrap_or_default()
}

/// The 9014 data acknowledgement for an upload frame.
pub fn data_ack(f: &Frame<'_>) -> String {
    reply(f, "9014", "")
}

/// The 9011 request reply with a `QnRtn` code.
pub fn request_reply(f: &Frame<'_>, code: QnRtn) -> String {
    reply(f, "9011", &format!("QnRtn={}", code as u8))
}

/// The 9012 execution result with an `ExeRtn` code.
pub fn execution_result(f: &Frame<'_>, code: ExeRtn) -> String {
    reply(f, "9012", &format!("ExeRtn={}", code as u8))
}

/// What a receiving server answers to a parsed frame, given what became of it: `None`
/// unless the terminal asked for an acknowledgement (`Flag` bit A). Data uploads are
/// acknowledged with 9014 whether they were accepted or dead-lettered (either way the
/// frame is safely stored and resending it would not help); other commands are refused
/// with 9011 (`QnRtn` 5 for a foreign system code, 8 for an unsupported command).
/// Replies (`ST=91`) are never answered, so two servers cannot loop.
pub fn reply_for(f: &Frame<'_>) -> Option<String> {
    if !f.needs_ack() || f.st == ST_SYSTEM {
        return None;
    }
    if f.st != ST_AIR {
        return Some(request_reply(f, QnRtn::BadSt));
    }
    if DataCommand::from_code(f.cn).is_some() {
        Some(data_ack(f))
    } else {
        Some(request_reply(f, QnRtn::BadCn))
    }
}

#[cfg(test)]
mod tests;
