//! Source inversion: which location upwind best explains the excesses seen — and the
//! absence of excess elsewhere?
//!
//! For a candidate source at `s` with effective height `h`, every sensor `i` has a
//! unit-emission concentration `k_i(s, h)` from the Gaussian plume ([`crate::plume`]),
//! using the wind interpolated to the sensor (mean direction, speed and direction
//! spread over the evidence window). The plume model errs by factors rather than by
//! µg/m³, so the misfit is measured on log ratios, with an offset `a_i = 2σ_i` (two
//! noise deviations of the sensor's mean excess) that keeps quiet sensors finite:
//!
//! ```text
//! r_i = ln((max(e_i, 0) + a_i) / (Q k_i + a_i))
//! χ²  = Σ r_i² / ln(1 + η)²          η = model_error (0.5: a factor 1.5 is one deviation)
//! ```
//!
//! and `Q` minimizes `χ²` (Gauss–Newton on `ln Q` from the least-squares start).
//!
//! Sensors that saw the episode (positive) and quiet sensors (negative, `e_i ≈ 0`)
//! enter the same sum, so a candidate whose plume would cross a quiet sensor is
//! penalised. Transport delay: a quiet sensor the plume would only reach later than
//! `now` (given the onset at the first sensor and the travel times `x/u`) says nothing
//! yet and is left out.
//!
//! The posterior over a coarse grid is `∝ prior · Σ_h exp(−(χ² − χ²_min) / 2T)` with
//! the temperature `T = max(min_temperature, χ²_min / dof)`, which widens the posterior
//! when even the best candidate misfits (an honest uncertainty when the model is
//! wrong). The best point of a finer grid around the best coarse cells marks the mode;
//! the estimate is the posterior mean of the coarse cells within 1 km of it (which
//! splits the difference along the poorly fixed along-wind axis); the uncertainty
//! radius is the smallest circle around the estimate holding `uncertainty_mass` of the
//! posterior.

use crate::config::DetectorConfig;
use crate::plume::{PlumeParams, Stability, concentration_per_gs, wind_frame};
use crate::wind::WindSample;

/// What one sensor contributes to a localization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorEvidence {
    /// East, metres in the detector's local plane.
    pub x: f64,
    /// North, metres.
    pub y: f64,
    /// Mean excess over the background during the evidence window (µg/m³).
    pub excess: f64,
    /// Standard deviation of that mean from sensor noise.
    pub sigma: f64,
    /// Mean wind at the sensor over the window.
    pub wind: WindSample,
    /// Direction spread at the sensor over the window, degrees.
    pub sigma_theta_deg: f64,
    /// Stability class at the sensor.
    pub class: Stability,
    /// Did this sensor see the episode?
    pub positive: bool,
    /// For positives: seconds between the episode's onset and this sensor's onset
    /// (0 for the first sensor); unused for negatives.
    pub onset_offset_s: f64,
}

/// The result of a localization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Localization {
    /// East, metres.
    pub x: f64,
    /// North, metres.
    pub y: f64,
    /// Radius holding `uncertainty_mass` of the posterior, metres.
    pub uncertainty_m: f64,
    /// Posterior probability within `confidence_radius_m`, times the goodness of fit.
    pub confidence: f64,
    /// Fitted emission rate at the estimate, g/s (µg/m³ units in, g/s out).
    pub emission_gs: f64,
    /// Best effective source height, m.
    pub height_m: f64,
    /// Reduced χ² of the best fit.
    pub chi2_reduced: f64,
    /// Travel time from the estimate to the first sensor that saw it, seconds.
    pub travel_to_first_s: f64,
}

/// Inputs besides the sensors.
#[derive(Clone, Copy)]
pub struct Search<'a> {
    /// Seconds since the onset at the first positive sensor.
    pub elapsed_s: f64,
    /// Multiplicative prior weight of a location (`(x, y)` metres), e.g. from CBPF.
    pub prior: Option<&'a dyn Fn(f64, f64) -> f64>,
}

impl std::fmt::Debug for Search<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("elapsed_s", &self.elapsed_s)
            .field("prior", &self.prior.is_some())
            .finish()
    }
}

struct Fit {
    chi2: f64,
    q: f64,
    n: usize,
    travel_first: f64,
}

/// Unit-emission concentration (µg/m³ per g/s) at sensor `e` from a source at `(sx, sy)`.
fn unit_conc(cfg: &DetectorConfig, e: &SensorEvidence, sx: f64, sy: f64, h: f64) -> (f64, f64) {
    let (x, y) = wind_frame(e.x - sx, e.y - sy, e.wind.from_deg);
    let st = (e.sigma_theta_deg.powi(2) + cfg.wind_dir_uncertainty_deg.powi(2)).sqrt();
    let p = PlumeParams {
        class: e.class,
        terrain: cfg.terrain,
        wind_ms: e.wind.speed_ms,
        min_wind_ms: cfg.min_wind_ms,
        source_height_m: h,
        receptor_height_m: cfg.receptor_height_m,
        sigma_theta_rad: st.to_radians(),
    };
    (concentration_per_gs(&p, x, y) * 1e6, x)
}

fn fit(
    cfg: &DetectorConfig,
    ev: &[SensorEvidence],
    first: usize,
    sx: f64,
    sy: f64,
    h: f64,
    elapsed_s: f64,
) -> Fit {
    let eta = cfg.model_error;
    let speed = |e: &SensorEvidence| e.wind.speed_ms.max(cfg.min_wind_ms);
    let (_, x_first) = unit_conc(cfg, &ev[first], sx, sy, h);
    let travel_first = x_first.max(0.0) / speed(&ev[first]);
    let mut rows: Vec<(f64, f64, f64)> = Vec::with_capacity(ev.len());
    let r2 = cfg.max_range_m * cfg.max_range_m;
    for e in ev {
        // Every positive sensor counts; quiet ones only within range (and see below).
        if !e.positive && (e.x - sx).powi(2) + (e.y - sy).powi(2) > r2 {
            continue;
        }
        let (k, x) = unit_conc(cfg, e, sx, sy, h);
        if !e.positive {
            let arrival = x.max(0.0) / speed(e) - travel_first;
            if arrival > elapsed_s {
                continue;
            }
        }
        rows.push((k, e.excess, e.sigma));
    }
    // Log-ratio residuals: the plume model errs by factors, not by µg/m³. `a` (two noise
    // deviations) keeps quiet sensors and near-zero predictions finite.
    let s2 = (1.0 + eta).ln().powi(2);
    let resid = |q: f64, k: f64, obs: f64, sig: f64| {
        let a = 2.0 * sig;
        ((obs.max(0.0) + a) / (q * k + a)).ln()
    };
    let (mut num, mut den) = (0.0, 0.0);
    for &(k, obs, _) in &rows {
        if obs > 0.0 {
            num += k * obs;
            den += k * k;
        }
    }
    let mut q: f64 = if den > 0.0 && num > 0.0 {
        num / den
    } else {
        0.0
    };
    if q > 0.0 {
        // Gauss–Newton on ln Q.
        for _ in 0..8 {
            let (mut g, mut hh) = (0.0, 0.0);
            for &(k, obs, sig) in &rows {
                let p = q * k;
                let j = p / (p + 2.0 * sig);
                g += resid(q, k, obs, sig) * j;
                hh += j * j;
            }
            if hh <= 1e-12 {
                break;
            }
            let step = (g / hh).clamp(-2.0, 2.0);
            q *= step.exp();
            if step.abs() < 1e-3 {
                break;
            }
        }
    }
    let chi2 = rows
        .iter()
        .map(|&(k, obs, sig)| resid(q, k, obs, sig).powi(2) / s2)
        .sum();
    Fit {
        chi2,
        q,
        n: rows.len(),
        travel_first,
    }
}

/// Is the candidate upwind (within a generous cone) of at least one positive sensor?
fn upwind_of_some(ev: &[SensorEvidence], sx: f64, sy: f64, margin: f64) -> bool {
    ev.iter().filter(|e| e.positive).any(|e| {
        let (x, y) = wind_frame(e.x - sx, e.y - sy, e.wind.from_deg);
        let cone = (35.0 + 2.0 * e.sigma_theta_deg)
            .min(85.0)
            .to_radians()
            .tan();
        x > -50.0 && x <= margin && y.abs() <= x.max(0.0) * cone + 150.0
    })
}

/// Best `(χ², fit, height)` over the configured heights at a point.
fn best_height(
    cfg: &DetectorConfig,
    ev: &[SensorEvidence],
    first: usize,
    sx: f64,
    sy: f64,
    elapsed: f64,
) -> (Fit, f64, Vec<f64>) {
    let mut best: Option<(Fit, f64)> = None;
    let mut chis = Vec::with_capacity(cfg.source_heights_m.len());
    for &h in &cfg.source_heights_m {
        let f = fit(cfg, ev, first, sx, sy, h, elapsed);
        chis.push(f.chi2);
        if best.as_ref().is_none_or(|(b, _)| f.chi2 < b.chi2) {
            best = Some((f, h));
        }
    }
    let (f, h) = best.unwrap_or((
        Fit {
            chi2: f64::INFINITY,
            q: 0.0,
            n: 0,
            travel_first: 0.0,
        },
        0.0,
    ));
    (f, h, chis)
}

/// Locates the source of the positive sensors' excess; `None` without a positive
/// sensor or when no candidate explains any of it.
pub fn locate(
    cfg: &DetectorConfig,
    ev: &[SensorEvidence],
    search: Search<'_>,
) -> Option<Localization> {
    let pos: Vec<&SensorEvidence> = ev.iter().filter(|e| e.positive && e.excess > 0.0).collect();
    if pos.is_empty() || cfg.source_heights_m.is_empty() {
        return None;
    }
    let first = ev
        .iter()
        .enumerate()
        .filter(|(_, e)| e.positive)
        .min_by(|a, b| a.1.onset_offset_s.total_cmp(&b.1.onset_offset_s))
        .map(|(i, _)| i)?;
    let margin = cfg.search_margin_m;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for e in &pos {
        x0 = x0.min(e.x);
        x1 = x1.max(e.x);
        y0 = y0.min(e.y);
        y1 = y1.max(e.y);
    }
    let c = cfg.coarse_cell_m.max(1.0);
    let nx = ((x1 - x0 + 2.0 * margin) / c).ceil() as i64 + 1;
    let ny = ((y1 - y0 + 2.0 * margin) / c).ceil() as i64 + 1;
    let (gx, gy) = (x0 - margin, y0 - margin);
    // Coarse grid: (x, y, χ² per height) for candidates upwind of a positive sensor.
    let mut cells: Vec<(f64, f64, Vec<f64>)> = Vec::new();
    for iy in 0..ny {
        for ix in 0..nx {
            let (sx, sy) = (gx + ix as f64 * c, gy + iy as f64 * c);
            if !upwind_of_some(ev, sx, sy, margin) {
                continue;
            }
            let (_, _, chis) = best_height(cfg, ev, first, sx, sy, search.elapsed_s);
            cells.push((sx, sy, chis));
        }
    }
    if cells.is_empty() {
        return None;
    }
    let chi_min = cells
        .iter()
        .flat_map(|(_, _, c)| c.iter().copied())
        .fold(f64::INFINITY, f64::min);
    let dof = (ev.len() as f64 - 3.0).max(1.0);
    let temp = (chi_min / dof).max(cfg.min_temperature);
    let mut post: Vec<(f64, f64, f64)> = cells
        .iter()
        .map(|(x, y, chis)| {
            let like: f64 = chis
                .iter()
                .map(|c| (-(c - chi_min) / (2.0 * temp)).exp())
                .sum();
            let prior = search.prior.map_or(1.0, |p| p(*x, *y).max(0.0));
            (*x, *y, like * prior)
        })
        .collect();
    let total: f64 = post.iter().map(|p| p.2).sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    for p in &mut post {
        p.2 /= total;
    }
    // Refine around the three most probable coarse cells.
    let mut order: Vec<usize> = (0..post.len()).collect();
    order.sort_by(|&a, &b| post[b].2.total_cmp(&post[a].2).then(a.cmp(&b)));
    let f = cfg.fine_cell_m.clamp(1.0, c);
    let steps = (c / f).round() as i64;
    let mut best: Option<(f64, f64, f64, Fit, f64)> = None;
    for &i in order.iter().take(3) {
        let (cx, cy, _) = post[i];
        for jy in -steps..=steps {
            for jx in -steps..=steps {
                let (sx, sy) = (cx + jx as f64 * f, cy + jy as f64 * f);
                let (fit, h, _) = best_height(cfg, ev, first, sx, sy, search.elapsed_s);
                let prior = search.prior.map_or(1.0, |p| p(sx, sy).max(1e-9));
                let score = fit.chi2 / (2.0 * temp) - prior.ln();
                if best.as_ref().is_none_or(|b| score < b.2) {
                    best = Some((sx, sy, score, fit, h));
                }
            }
        }
    }
    let (mapx, mapy, _, _, _) = best?;
    // The estimate: posterior mean of the mode around the best point (within 1 km), which
    // splits the difference along the poorly fixed along-wind axis.
    let (mut sw, mut swx, mut swy) = (0.0, 0.0, 0.0);
    for &(x, y, p) in &post {
        if (x - mapx).hypot(y - mapy) <= 1000.0 {
            sw += p;
            swx += p * x;
            swy += p * y;
        }
    }
    let (bx, by) = if sw > 0.0 {
        (swx / sw, swy / sw)
    } else {
        (mapx, mapy)
    };
    let (bfit, bh, _) = best_height(cfg, ev, first, bx, by, search.elapsed_s);
    if bfit.q <= 0.0 {
        return None;
    }
    // Uncertainty radius: smallest circle around the estimate holding the mass.
    let mut by_dist: Vec<(f64, f64)> = post
        .iter()
        .map(|&(x, y, p)| ((x - bx).hypot(y - by), p))
        .collect();
    by_dist.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = 0.0;
    let mut radius = by_dist.last().map_or(0.0, |d| d.0);
    for &(d, p) in &by_dist {
        acc += p;
        if acc >= cfg.uncertainty_mass {
            radius = d;
            break;
        }
    }
    let radius = radius.hypot(0.75 * c);
    let near: f64 = by_dist
        .iter()
        .filter(|(d, _)| *d <= cfg.confidence_radius_m)
        .map(|(_, p)| p)
        .sum();
    let chi2_reduced = bfit.chi2 / (bfit.n as f64 - 3.0).max(1.0);
    let fit_factor = (-(chi2_reduced - 1.0).max(0.0) / 8.0).exp();
    Some(Localization {
        x: bx,
        y: by,
        uncertainty_m: radius,
        confidence: (near * fit_factor).clamp(0.0, 1.0),
        emission_gs: bfit.q,
        height_m: bh,
        chi2_reduced,
        travel_to_first_s: bfit.travel_first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plume::Terrain;

    /// Sensors on a 400 m grid, the excess a source at `src` would cause (the forward
    /// model the inversion uses, so the answer is known exactly).
    fn synthetic(
        cfg: &DetectorConfig,
        src: (f64, f64),
        q: f64,
        wind: WindSample,
        h: f64,
    ) -> Vec<SensorEvidence> {
        let mut ev = Vec::new();
        for iy in -5..=5 {
            for ix in -5..=5 {
                let (x, y) = (ix as f64 * 400.0 + 37.0, iy as f64 * 400.0 - 21.0);
                let mut e = SensorEvidence {
                    x,
                    y,
                    excess: 0.0,
                    sigma: 2.0,
                    wind,
                    sigma_theta_deg: 8.0,
                    class: Stability::D,
                    positive: false,
                    onset_offset_s: 0.0,
                };
                let (k, _) = unit_conc(cfg, &e, src.0, src.1, h);
                e.excess = q * k;
                e.positive = e.excess >= 15.0;
                ev.push(e);
            }
        }
        ev
    }

    fn cfg() -> DetectorConfig {
        DetectorConfig {
            terrain: Terrain::Urban,
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn recovers_a_ground_source_inside_the_network() {
        let cfg = cfg();
        let wind = WindSample {
            speed_ms: 2.5,
            from_deg: 250.0,
        };
        let ev = synthetic(&cfg, (-300.0, 150.0), 5.0, wind, 3.0);
        assert!(ev.iter().filter(|e| e.positive).count() >= 2);
        let l = locate(
            &cfg,
            &ev,
            Search {
                elapsed_s: 3600.0,
                prior: None,
            },
        )
        .unwrap();
        let err = (l.x + 300.0).hypot(l.y - 150.0);
        // The estimate is a posterior mean over 100 m cells, not the exact optimum.
        assert!(err <= 80.0, "error {err} m: {l:?}");
        assert!(l.uncertainty_m >= err && l.uncertainty_m < 400.0, "{l:?}");
        assert!((l.emission_gs - 5.0).abs() < 1.0, "{l:?}");
        assert!(l.confidence > 0.5, "{l:?}");
    }

    #[test]
    fn quiet_sensors_rule_out_candidates() {
        // Without negatives the distance upwind is poorly fixed: the radius must grow.
        let cfg = cfg();
        let wind = WindSample {
            speed_ms: 3.0,
            from_deg: 180.0,
        };
        let ev = synthetic(&cfg, (100.0, -500.0), 8.0, wind, 3.0);
        let with = locate(
            &cfg,
            &ev,
            Search {
                elapsed_s: 3600.0,
                prior: None,
            },
        )
        .unwrap();
        let only_pos: Vec<_> = ev.iter().copied().filter(|e| e.positive).collect();
        let without = locate(
            &cfg,
            &only_pos,
            Search {
                elapsed_s: 3600.0,
                prior: None,
            },
        )
        .unwrap();
        let err_with = (with.x - 100.0).hypot(with.y + 500.0);
        // Ground source or a stack further upwind explain this pattern about equally:
        // the estimate sits between them.
        assert!(err_with < 250.0, "{with:?}");
        assert!(
            without.uncertainty_m > with.uncertainty_m,
            "{with:?} vs {without:?}"
        );
    }

    #[test]
    fn a_source_outside_the_network_is_placed_upwind_with_a_wide_radius() {
        let cfg = cfg();
        let wind = WindSample {
            speed_ms: 3.0,
            from_deg: 270.0,
        };
        // The grid spans x ∈ [−1963, 2037]; the source is 800 m west of it.
        let ev = synthetic(&cfg, (-2800.0, 100.0), 30.0, wind, 3.0);
        let l = locate(
            &cfg,
            &ev,
            Search {
                elapsed_s: 3600.0,
                prior: None,
            },
        )
        .unwrap();
        assert!(l.x < -1963.0, "placed west of the network: {l:?}");
        let err = (l.x + 2800.0).hypot(l.y - 100.0);
        assert!(
            err <= l.uncertainty_m,
            "radius {} must cover the error {err}",
            l.uncertainty_m
        );
    }

    #[test]
    fn a_stack_is_found_with_its_height() {
        let cfg = cfg();
        let wind = WindSample {
            speed_ms: 4.0,
            from_deg: 300.0,
        };
        let ev = synthetic(&cfg, (-600.0, 400.0), 150.0, wind, 60.0);
        let l = locate(
            &cfg,
            &ev,
            Search {
                elapsed_s: 3600.0,
                prior: None,
            },
        )
        .unwrap();
        let err = (l.x + 600.0).hypot(l.y - 400.0);
        assert!(err < 120.0, "{err} {l:?}");
        assert_eq!(l.height_m, 60.0);
    }

    #[test]
    fn transport_delay_keeps_far_sensors_out_early_on() {
        let cfg = cfg();
        let wind = WindSample {
            speed_ms: 1.0,
            from_deg: 270.0,
        };
        let mut ev = synthetic(&cfg, (-1500.0, 0.0), 10.0, wind, 3.0);
        // Two minutes after onset the plume has only reached sensors ~120 m further than
        // the first one: far downwind sensors are still quiet, and must not count.
        let full = ev.clone();
        let first_x = full
            .iter()
            .filter(|e| e.positive)
            .map(|e| e.x)
            .fold(f64::MAX, f64::min);
        for e in &mut ev {
            if e.x > first_x + 150.0 {
                e.excess = 0.0;
                e.positive = false;
            }
        }
        let l = locate(
            &cfg,
            &ev,
            Search {
                elapsed_s: 120.0,
                prior: None,
            },
        )
        .unwrap();
        let err = (l.x + 1500.0).hypot(l.y);
        assert!(err < l.uncertainty_m.max(200.0), "{err} {l:?}");
    }
}
