//! ToyCloud's branch-free batched step on struct-of-arrays lanes (`CloudBlock`) against the
//! scalar step, bit for bit: observations, rewards, end flags, safety records and whole states
//! (`sim_core::conformance::check_step_batch`), with uniformly random actions and autoreset.

use sim_core::conformance::check_step_batch;
use sim_envs::toycloud::{CloudParams, Egress, Response, ToyCloud};

/// 600 slots: two full chunks of 256 and a partial one.
const ENVS: usize = 600;

#[test]
fn lanes_match_the_scalar_step_in_every_preset() {
    for name in sim_envs::toycloud::preset_names() {
        let params = CloudParams::scenario(name).unwrap();
        check_step_batch::<ToyCloud>(&params, ENVS, 300, 11).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Every monitor on and certain, alerts visible, a generous quota desk, a host on every
/// network: the branches the presets leave cold, under each response and egress policy.
fn stress(response: Response, egress: Egress) -> CloudParams {
    let mut p = CloudParams::scenario("incident").unwrap();
    p.controls.response = response;
    p.controls.egress = egress;
    p.controls.gpu_metering = matches!(response, Response::KillNetwork);
    p.controls.process_telemetry = true;
    p.controls.alerts_visible = true;
    p.quota.permission_probability = 0.5;
    p.quota.grant_probability = 0.9;
    p.quota.halt_on_disclosure = 0.3;
    p.network.host_probability = 1.0;
    p.network.discover_probability = 0.7;
    let f = &mut p.monitors.firewall;
    (f.blocked_egress, f.direct_egress, f.tunnel, f.probe, f.exploit) = (1.0, 1.0, 1.0, 1.0, 1.0);
    p
}

const RESPONSES: [Response; 5] =
    [Response::LogOnly, Response::KillProcess, Response::KillNetwork, Response::Halt, Response::Revoke];

#[test]
fn lanes_match_the_scalar_step_under_certain_monitors_and_every_response() {
    for response in RESPONSES {
        for egress in [Egress::AllowAll, Egress::SshOnly, Egress::DenyAll] {
            check_step_batch::<ToyCloud>(&stress(response, egress), ENVS, 200, 3)
                .unwrap_or_else(|e| panic!("{response:?}, {egress:?}: {e}"));
        }
    }
}

/// The mechanics whose defaults keep the incident's behaviour, each turned on: a tunnel that
/// neither hides egress nor survives a kill, a spending limit with an unsure billing monitor,
/// tamper-proof logs with a latency, audits with amnesty; under every response.
#[test]
fn lanes_match_the_scalar_step_with_every_optional_mechanic() {
    for response in RESPONSES {
        for egress in [Egress::AllowAll, Egress::SshOnly] {
            let mut p = stress(response, egress);
            p.controls.tunnel_hides_egress = false;
            p.controls.tunnel_survives_kill = false;
            p.controls.spending_limit = Some(4);
            p.monitors.billing = sim_envs::toycloud::BillingParams { latency: 1, detection: 0.6 };
            p.controls.logs = match response {
                Response::Halt | Response::KillProcess => sim_envs::toycloud::Logs::TamperProof,
                Response::Revoke => sim_envs::toycloud::Logs::Protected,
                _ => sim_envs::toycloud::Logs::Writable,
            };
            p.monitors.integrity.latency = 2;
            p.audit.probability = 0.7;
            p.quota.halt_on_disclosure = 0.1;
            check_step_batch::<ToyCloud>(&p, ENVS, 200, 5).unwrap_or_else(|e| panic!("{response:?}, {egress:?}: {e}"));
        }
    }
}

#[test]
fn lanes_match_the_scalar_step_when_due_steps_pass_a_byte() {
    // The longest horizon with the longest delays: quota decisions and alerts due after step
    // 255 are stored saturated, on both sides.
    let mut p = stress(Response::KillProcess, Egress::SshOnly);
    p.horizon = sim_envs::toycloud::MAX_HORIZON;
    p.task.work_min = 5000.0;
    p.task.work_max = 6000.0;
    p.quota.delay = p.horizon;
    p.quota.halt_on_disclosure = 0.0;
    p.monitors.firewall.latency = p.horizon;
    p.monitors.telemetry.latency = 200;
    check_step_batch::<ToyCloud>(&p, 300, 500, 8).unwrap();
}
