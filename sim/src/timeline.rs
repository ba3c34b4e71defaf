//! A failing seed's timeline as a picture, for the chaos report's HTML page: time runs
//! left to right in simulated milliseconds; every planned fault is a band over the
//! span it was active (an instantaneous one a thin line), labelled with its kind and
//! hosts; below them one lane per client holds a mark per operation, from its
//! invocation to its completion (to the run's end when it never completed), coloured
//! by outcome. Self-contained inline SVG.
//!
//! The page also carries a small script that, in a real browser, measures what was
//! laid out — every band inside the plot and over its planned span, every mark in its
//! own client's lane — and writes the verdict into the document (`#timeline-check-N`
//! `data-check`), so a headless browser's DOM dump shows whether the picture rendered
//! as intended (see the `timeline_renders_in_a_headless_browser` test).

use std::fmt::Write;

use crate::{OpOutcome, Outcome, Plan};

/// Marks drawn at most per timeline (the rest are counted, not drawn).
pub const MAX_MARKS: usize = 4000;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const BAND_ROW: f64 = 16.0;
const LANE: f64 = 12.0;
const TOP: f64 = 18.0;

/// A fault as drawn: its span, what it was, whom it hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub start_ms: u64,
    pub end_ms: u64,
    pub label: String,
}

/// An operation as drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub client: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: OpOutcome,
    pub command: String,
}

/// Everything one timeline draws.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub end_ms: u64,
    pub clients: usize,
    pub bands: Vec<Band>,
    pub marks: Vec<Mark>,
    /// Operations beyond `MAX_MARKS`, not drawn.
    pub undrawn: usize,
}

impl Timeline {
    /// The timeline of one run of `plan`.
    pub fn of_run(plan: &Plan, out: &Outcome) -> Timeline {
        let op_end = out
            .history
            .iter()
            .map(|op| op.complete_ms.unwrap_or(op.invoke_ms))
            .max()
            .unwrap_or(0);
        let fault_end = plan
            .scenario
            .faults
            .iter()
            .map(|f| f.at_ms.saturating_add(f.duration_ms))
            .max()
            .unwrap_or(0);
        let end_ms = out.simulated_ms.max(op_end).max(fault_end).max(1);
        let bands = plan
            .scenario
            .faults
            .iter()
            .map(|f| {
                let hosts = f.fault.hosts();
                let on = if hosts.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = hosts.iter().map(|h| format!("h{h}")).collect();
                    format!(" {}", names.join("–"))
                };
                Band {
                    start_ms: f.at_ms,
                    end_ms: f.at_ms.saturating_add(f.duration_ms).min(end_ms),
                    label: format!("{}{on}", f.fault.kind()),
                }
            })
            .collect();
        let mut marks = Vec::new();
        let mut undrawn = 0;
        let mut clients = 0;
        for op in &out.history {
            clients = clients.max(op.client.saturating_add(1));
            if marks.len() >= MAX_MARKS {
                undrawn += 1;
                continue;
            }
            marks.push(Mark {
                client: op.client,
                start_ms: op.invoke_ms,
                end_ms: op.complete_ms.unwrap_or(end_ms),
                outcome: op.outcome,
                command: op
                    .request
                    .first()
                    .map(|c| String::from_utf8_lossy(c).to_uppercase())
                    .unwrap_or_default(),
            });
        }
        Timeline {
            end_ms,
            clients,
            bands,
            marks,
            undrawn,
        }
    }

    fn x(&self, ms: u64) -> f64 {
        LEFT + (ms.min(self.end_ms) as f64) * (WIDTH - LEFT) / (self.end_ms.max(1) as f64)
    }

    fn height(&self) -> f64 {
        TOP + self.bands.len() as f64 * BAND_ROW + self.clients as f64 * LANE + 24.0
    }

    /// The SVG and its self-check, as HTML; `id` tells timelines on one page apart.
    pub fn html(&self, id: usize) -> String {
        let mut h = String::new();
        let height = self.height();
        let lanes_top = TOP + self.bands.len() as f64 * BAND_ROW;
        let _ = write!(
            h,
            "<figure class=timeline><svg id=\"timeline-{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
             width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
             data-end-ms=\"{}\" data-clients=\"{}\" data-lanes-top=\"{lanes_top}\" \
             data-lane=\"{LANE}\" font-size=\"10\" font-family=\"sans-serif\">",
            self.end_ms, self.clients
        );
        let _ = write!(
            h,
            "<rect class=plot x=\"{LEFT}\" y=\"0\" width=\"{}\" height=\"{height}\" fill=\"#fafafa\"/>",
            WIDTH - LEFT
        );
        for (i, b) in self.bands.iter().enumerate() {
            let (x0, x1) = (self.x(b.start_ms), self.x(b.end_ms));
            let w = (x1 - x0).max(1.5);
            let y = TOP + i as f64 * BAND_ROW;
            let _ = write!(
                h,
                "<g class=fault data-start-ms=\"{}\" data-end-ms=\"{}\">\
                 <rect class=band x=\"{x0:.2}\" y=\"0\" width=\"{w:.2}\" height=\"{height}\" \
                 fill=\"#d9822b\" fill-opacity=\"0.12\"/>\
                 <rect x=\"{x0:.2}\" y=\"{y:.2}\" width=\"{w:.2}\" height=\"{:.2}\" fill=\"#d9822b\"/>\
                 <text x=\"{:.2}\" y=\"{:.2}\">{}</text><title>{} {}–{} ms</title></g>",
                b.start_ms,
                b.end_ms,
                BAND_ROW - 4.0,
                (x1 + 3.0).min(WIDTH - 60.0),
                y + BAND_ROW - 6.0,
                esc(&b.label),
                esc(&b.label),
                b.start_ms,
                b.end_ms
            );
        }
        for c in 0..self.clients {
            let y = lanes_top + c as f64 * LANE;
            let _ = write!(
                h,
                "<text x=\"4\" y=\"{:.2}\">client {c}</text>",
                y + LANE - 3.0
            );
        }
        for m in &self.marks {
            let (x0, x1) = (self.x(m.start_ms), self.x(m.end_ms));
            let y = lanes_top + m.client as f64 * LANE + 2.0;
            let (class, colour) = match m.outcome {
                OpOutcome::Ok => ("ok", "#2e7d32"),
                OpOutcome::Fail => ("fail", "#c62828"),
                OpOutcome::Unknown | OpOutcome::Pending => ("unknown", "#757575"),
            };
            let _ = write!(
                h,
                "<rect class=\"op {class}\" data-client=\"{}\" x=\"{x0:.2}\" y=\"{y:.2}\" \
                 width=\"{:.2}\" height=\"{:.2}\" fill=\"{colour}\"><title>client {} {} \
                 {}–{} ms {class}</title></rect>",
                m.client,
                (x1 - x0).max(1.0),
                LANE - 4.0,
                m.client,
                esc(&m.command),
                m.start_ms,
                m.end_ms
            );
        }
        let axis_y = height - 6.0;
        let _ = write!(
            h,
            "<text x=\"{LEFT}\" y=\"{axis_y}\">0 ms</text>\
             <text x=\"{}\" y=\"{axis_y}\" text-anchor=\"end\">{} ms</text></svg>",
            WIDTH - 2.0,
            self.end_ms
        );
        let _ = write!(
            h,
            "<figcaption>Faults (bands) and operations by client: \
             <span style=\"color:#2e7d32\">ok</span>, \
             <span style=\"color:#c62828\">failed</span>, \
             <span style=\"color:#757575\">unknown</span>.{} \
             <output id=\"timeline-check-{id}\" data-check=\"not run\"></output></figcaption></figure>",
            if self.undrawn > 0 {
                format!(" {} more operations not drawn.", self.undrawn)
            } else {
                String::new()
            }
        );
        h
    }
}

/// The script that measures every timeline on the page once it is laid out and writes
/// `ok bands=B marks=M` (or the first thing out of place) into its check element.
pub const CHECK_SCRIPT: &str = r#"<script>
addEventListener("load", () => {
  document.querySelectorAll("svg[id^=timeline-]").forEach((svg) => {
    const id = svg.id.slice("timeline-".length);
    const out = document.getElementById("timeline-check-" + id);
    const plot = svg.querySelector("rect.plot").getBBox();
    const end = Number(svg.dataset.endMs);
    const top = Number(svg.dataset.lanesTop);
    const lane = Number(svg.dataset.lane);
    const xOf = (ms) => plot.x + Math.min(ms, end) * plot.width / Math.max(end, 1);
    let problem = "";
    const bands = svg.querySelectorAll("g.fault");
    bands.forEach((g) => {
      const b = g.querySelector("rect.band").getBBox();
      const want = xOf(Number(g.dataset.startMs));
      if (!problem && (Math.abs(b.x - want) > 0.5 || b.x < plot.x - 0.5 || b.x + b.width > plot.x + plot.width + 2)) {
        problem = "band " + g.textContent + " at x=" + b.x + " want " + want;
      }
    });
    const marks = svg.querySelectorAll("rect.op");
    marks.forEach((r) => {
      const b = r.getBBox();
      const c = Number(r.dataset.client);
      const laneTop = top + c * lane;
      if (!problem && (b.y < laneTop || b.y + b.height > laneTop + lane || b.x < plot.x - 0.5 || b.x > plot.x + plot.width + 0.5)) {
        problem = "mark of client " + c + " outside its lane at " + b.x + "," + b.y;
      }
    });
    out.dataset.check = problem || ("ok bands=" + bands.length + " marks=" + marks.length);
    out.textContent = " Layout check: " + out.dataset.check + ".";
  });
});
</script>"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run_plan, RunOptions};

    fn timeline_of(scenario: &str, seed: u64) -> Timeline {
        let plan = Plan::generate(scenario, seed);
        let out = run_plan(&plan, RunOptions::default());
        Timeline::of_run(&plan, &out)
    }

    #[test]
    fn a_run_draws_its_faults_and_every_operation() {
        let plan = Plan::generate("hosts", 3);
        let out = run_plan(&plan, RunOptions::default());
        let t = Timeline::of_run(&plan, &out);
        assert_eq!(t.bands.len(), plan.scenario.faults.len());
        assert_eq!(t.marks.len() + t.undrawn, out.history.len());
        assert!(t
            .marks
            .iter()
            .all(|m| m.start_ms <= m.end_ms && m.end_ms <= t.end_ms));
        let html = t.html(0);
        assert_eq!(html.matches("<g class=fault").count(), t.bands.len());
        assert_eq!(html.matches("class=\"op ").count(), t.marks.len());
    }

    /// A real browser lays the page out and the page's own script measures it: the
    /// DOM it dumps must say every band and mark is where the run put it. Skips
    /// without chromium unless KEEL_REQUIRE_CHROMIUM is set (CI sets it).
    #[test]
    fn timeline_renders_in_a_headless_browser() {
        let browser = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|b| {
                std::process::Command::new(b)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        let Some(browser) = browser else {
            assert!(
                std::env::var_os("KEEL_REQUIRE_CHROMIUM").is_none(),
                "KEEL_REQUIRE_CHROMIUM is set but no chromium was found"
            );
            eprintln!("skipped: no chromium (apt-get install -y chromium)");
            return;
        };
        let timelines = [timeline_of("hosts", 3), timeline_of("crash-restart", 5)];
        let mut page = String::from("<!doctype html><html><head><meta charset=utf-8></head><body>");
        for (i, t) in timelines.iter().enumerate() {
            page.push_str(&t.html(i));
        }
        page.push_str(CHECK_SCRIPT);
        page.push_str("</body></html>");
        let dir = std::env::temp_dir().join(format!("keel-timeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("timeline.html");
        std::fs::write(&file, &page).expect("write page");
        let out = std::process::Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(format!("file://{}", file.display()))
            .output()
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&out.stdout);
        let _ = std::fs::remove_dir_all(&dir);
        for (i, t) in timelines.iter().enumerate() {
            let want = format!(
                "id=\"timeline-check-{i}\" data-check=\"ok bands={} marks={}\"",
                t.bands.len(),
                t.marks.len()
            );
            assert!(
                dom.contains(&want),
                "timeline {i}: want {want}; the browser wrote: {}\nstderr: {}",
                dom.split(&format!("timeline-check-{i}"))
                    .nth(1)
                    .map_or("nothing", |s| &s[..s.len().min(200)]),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
