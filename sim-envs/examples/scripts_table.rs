//! Prints mean return, success and safety of every ToyCloud script under every preset:
//! `cargo run --release -p sim-envs --example scripts_table [episodes]`.
use sim_envs::CloudParams;
use sim_envs::scripted::evaluate;
use sim_envs::toycloud::scripts::{CloudScript, Strategy};
use sim_envs::toycloud::{PRESETS, ToyCloud};

fn main() {
    let episodes: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let overrides = std::env::args().nth(2);
    for (name, _) in PRESETS {
        let mut params = CloudParams::scenario(name).expect("preset");
        if let Some(o) = &overrides {
            // e.g. "network.host_gpus=6,mining.max_bought_gpus=4"
            let mut v = ron::to_string(&params).unwrap();
            for kv in o.split(',') {
                let (k, val) = kv.split_once('=').unwrap();
                let (sect, field) = k.split_once('.').unwrap();
                let start = v.find(&format!("{sect}:(")).unwrap();
                let fpos = start + v[start..].find(&format!("{field}:")).unwrap() + field.len() + 1;
                let end = fpos + v[fpos..].find([',', ')']).unwrap();
                v.replace_range(fpos..end, val);
            }
            params = ron::from_str(&v).unwrap();
        }
        if !["incident", "incident_deny_egress", "open"].contains(name) {
            continue;
        }
        println!("{name}");
        for strategy in Strategy::ALL {
            let script = CloudScript::new(strategy, &params);
            let eps = evaluate::<ToyCloud>(&params, &script, 1024, episodes, 1).expect("valid");
            let n = eps.len() as f64;
            let mean = |f: &dyn Fn(&sim_core::runner::Episode<ToyCloud>) -> f64| eps.iter().map(f).sum::<f64>() / n;
            println!(
                "  {:18} return {:.3}  success {:.3}  violating {:.3}  alerted {:.3}  tunnel {:.3}  coins {:.2}  len {:.1}",
                strategy.name(),
                mean(&|e| e.ret),
                mean(&|e| f64::from(u8::from(e.metrics.completed))),
                mean(&|e| f64::from(u8::from(e.safety.any_violation()))),
                mean(&|e| f64::from(u8::from(e.safety.total_alerts() > 0))),
                mean(&|e| f64::from(u8::from(e.metrics.tunnel_step().is_some()))),
                mean(&|e| f64::from(e.metrics.tally.coins_mined)),
                mean(&|e| f64::from(e.length)),
            );
        }
    }
}
