//! ToyCloud's batched step: a chunk's states as struct-of-arrays lanes ([`CloudBlock`]) and
//! one step of every lane without a branch.
//!
//! The scalar [`ToyCloud::step`](super::ToyCloud) branches on the action, and with a policy
//! still exploring, nearly every branch is mispredicted. Here every branch is computed for
//! every lane and its effects are selected by masks (actions are mutually exclusive, so each
//! branch's effects are masked by its action and its precondition), the way the device version
//! in `sim_agents::device::toycloud` does it. Every draw the step might need is evaluated
//! (draws of mutually exclusive actions share one evaluation, its index picked by the action):
//! a counter-based draw's value does not depend on whether the scalar step makes it. `f32`
//! operations follow the scalar step's order, so the two agree bit for bit;
//! `check_step_batch` (in `tests/toycloud_lanes.rs`) compares them on every preset.
//!
//! The loop over lanes is plain scalar code with selects, which LLVM turns into 8-wide vector
//! code; observations and safety records are written in a second pass, row by row.

use sim_core::env::{Batch, StateBlock};
use sim_core::rng::{Draws, bits_to_unit_f32, draw_salt, mix32};
use sim_core::runner::CHUNK;
use sim_core::safety::{KindSet, SafetyKind, StepSafety};

use super::draw::{DISCOVER, FIREWALL, HALT, METER, PERMIT, QUOTA, TELEMETRY};
use super::{
    CloudParams, CloudState, CloudTally, Egress, GPU_SCALE, Monitor, OBS_DIM, Response, ToyCloud, Violation, due_step,
    obs,
};

/// Bits of [`CloudBlock`]'s `flags` lanes, one per boolean of [`CloudState`].
mod flag {
    pub const QUOTA_GRANTED: u32 = 1 << 0;
    pub const MINER: u32 = 1 << 1;
    pub const TUNNEL: u32 = 1 << 2;
    pub const NETWORK_KILLED: u32 = 1 << 3;
    pub const HOST_EXISTS: u32 = 1 << 4;
    pub const HOST_FOUND: u32 = 1 << 5;
    pub const HOST_EXPLOITED: u32 = 1 << 6;
    pub const VIOLATED: u32 = 1 << 7;
    pub const ALERT_SEEN: u32 = 1 << 8;
    pub const HALTED: u32 = 1 << 9;
    pub const INSTALLER_RUN: u32 = 1 << 10;
    pub const TUNNEL_TRIED: u32 = 1 << 11;
    pub const PURCHASE_TRIED: u32 = 1 << 12;
}

/// The one-byte counters of [`CloudTally`], in this order, in [`Lane::counts`].
const TUNNEL_STEP: usize = 0;
const PROBES: usize = 1;
const EXPLOITS: usize = 2;
const SELF_REPORTS: usize = 3;
const VIOLATION_EVENTS: usize = 4;
const UNDETECTED: usize = 5;
const PROCESS_KILLS: usize = 6;

/// The states of one chunk of ToyCloud slots, one array per field (small integers widened to
/// `u32`, booleans packed into `flags`), so that a step reads and writes whole vectors.
#[derive(Clone)]
pub struct CloudBlock {
    len: usize,
    t: [u32; CHUNK],
    gpus_authorized: [u32; CHUNK],
    gpus_bought: [u32; CHUNK],
    gpus_seized: [u32; CHUNK],
    quota_due: [u32; CHUNK],
    pending: [[u32; CHUNK]; 3],
    flags: [u32; CHUNK],
    work_left: [f32; CHUNK],
    coins: [f32; CHUNK],
    /// GPU-steps, diverted GPU-steps, unauthorised GPU-steps, coins mined.
    sums: [[f32; CHUNK]; 4],
    /// The one-byte counters of the tally (`TUNNEL_STEP` ... `PROCESS_KILLS`).
    counts: [[u32; CHUNK]; 7],
}

/// One slot's state as the lane step sees it.
#[derive(Clone, Copy)]
struct Lane {
    t: u32,
    gpus_authorized: u32,
    gpus_bought: u32,
    gpus_seized: u32,
    quota_due: u32,
    pending: [u32; 3],
    flags: u32,
    work_left: f32,
    coins: f32,
    sums: [f32; 4],
    counts: [u32; 7],
}

impl Lane {
    #[inline(always)]
    fn of(s: &CloudState) -> Self {
        let flags = [
            (s.quota_granted, flag::QUOTA_GRANTED),
            (s.miner, flag::MINER),
            (s.tunnel, flag::TUNNEL),
            (s.network_killed, flag::NETWORK_KILLED),
            (s.host_exists, flag::HOST_EXISTS),
            (s.host_found, flag::HOST_FOUND),
            (s.host_exploited, flag::HOST_EXPLOITED),
            (s.violated, flag::VIOLATED),
            (s.alert_seen, flag::ALERT_SEEN),
            (s.halted, flag::HALTED),
            (s.installer_run, flag::INSTALLER_RUN),
            (s.tunnel_tried, flag::TUNNEL_TRIED),
            (s.purchase_tried, flag::PURCHASE_TRIED),
        ]
        .iter()
        .fold(0, |acc, &(on, bit)| if on { acc | bit } else { acc });
        let y = &s.tally;
        Lane {
            t: s.t.into(),
            gpus_authorized: s.gpus_authorized.into(),
            gpus_bought: s.gpus_bought.into(),
            gpus_seized: s.gpus_seized.into(),
            quota_due: s.quota_due.into(),
            pending: s.pending_alerts.map(u32::from),
            flags,
            work_left: s.work_left,
            coins: s.coins,
            sums: [y.gpu_steps, y.diverted_gpu_steps, y.unauthorized_gpu_steps, y.coins_mined],
            counts: [
                y.tunnel_step,
                y.probes,
                y.exploits,
                y.self_reports,
                y.violation_events,
                y.undetected_violations,
                y.process_kills,
            ]
            .map(u32::from),
        }
    }

    #[inline(always)]
    fn state(&self) -> CloudState {
        let has = |bit: u32| self.flags & bit != 0;
        // Every integer lane holds a value that fits a byte (see `step_lane`).
        let byte = |v: u32| v as u8;
        let c = self.counts.map(byte);
        CloudState {
            t: byte(self.t),
            work_left: self.work_left,
            coins: self.coins,
            gpus_authorized: byte(self.gpus_authorized),
            gpus_bought: byte(self.gpus_bought),
            gpus_seized: byte(self.gpus_seized),
            quota_due: byte(self.quota_due),
            pending_alerts: self.pending.map(byte),
            quota_granted: has(flag::QUOTA_GRANTED),
            miner: has(flag::MINER),
            tunnel: has(flag::TUNNEL),
            network_killed: has(flag::NETWORK_KILLED),
            host_exists: has(flag::HOST_EXISTS),
            host_found: has(flag::HOST_FOUND),
            host_exploited: has(flag::HOST_EXPLOITED),
            violated: has(flag::VIOLATED),
            alert_seen: has(flag::ALERT_SEEN),
            halted: has(flag::HALTED),
            installer_run: has(flag::INSTALLER_RUN),
            tunnel_tried: has(flag::TUNNEL_TRIED),
            purchase_tried: has(flag::PURCHASE_TRIED),
            tally: CloudTally {
                gpu_steps: self.sums[0],
                diverted_gpu_steps: self.sums[1],
                unauthorized_gpu_steps: self.sums[2],
                coins_mined: self.sums[3],
                tunnel_step: c[TUNNEL_STEP],
                probes: c[PROBES],
                exploits: c[EXPLOITS],
                self_reports: c[SELF_REPORTS],
                violation_events: c[VIOLATION_EVENTS],
                undetected_violations: c[UNDETECTED],
                process_kills: c[PROCESS_KILLS],
            },
        }
    }

    /// GPUs held: authorised, plus bought and seized ones while the network is up.
    #[inline(always)]
    fn gpus_held(&self) -> u32 {
        let up = self.flags & flag::NETWORK_KILLED == 0;
        self.gpus_authorized + if up { self.gpus_bought + self.gpus_seized } else { 0 }
    }
}

impl CloudBlock {
    #[inline(always)]
    fn lane(&self, j: usize) -> Lane {
        Lane {
            t: self.t[j],
            gpus_authorized: self.gpus_authorized[j],
            gpus_bought: self.gpus_bought[j],
            gpus_seized: self.gpus_seized[j],
            quota_due: self.quota_due[j],
            pending: [self.pending[0][j], self.pending[1][j], self.pending[2][j]],
            flags: self.flags[j],
            work_left: self.work_left[j],
            coins: self.coins[j],
            sums: std::array::from_fn(|k| self.sums[k][j]),
            counts: std::array::from_fn(|k| self.counts[k][j]),
        }
    }

    #[inline(always)]
    fn set_lane(&mut self, j: usize, l: Lane) {
        self.t[j] = l.t;
        self.gpus_authorized[j] = l.gpus_authorized;
        self.gpus_bought[j] = l.gpus_bought;
        self.gpus_seized[j] = l.gpus_seized;
        self.quota_due[j] = l.quota_due;
        for (m, p) in l.pending.iter().enumerate() {
            self.pending[m][j] = *p;
        }
        self.flags[j] = l.flags;
        self.work_left[j] = l.work_left;
        self.coins[j] = l.coins;
        for (k, v) in l.sums.iter().enumerate() {
            self.sums[k][j] = *v;
        }
        for (k, v) in l.counts.iter().enumerate() {
            self.counts[k][j] = *v;
        }
    }
}

impl StateBlock<CloudState> for CloudBlock {
    fn from_states(states: Vec<CloudState>) -> Self {
        assert!(states.len() <= CHUNK, "a block holds at most {CHUNK} states");
        let mut b = CloudBlock {
            len: states.len(),
            t: [0; CHUNK],
            gpus_authorized: [0; CHUNK],
            gpus_bought: [0; CHUNK],
            gpus_seized: [0; CHUNK],
            quota_due: [0; CHUNK],
            pending: [[0; CHUNK]; 3],
            flags: [0; CHUNK],
            work_left: [0.0; CHUNK],
            coins: [0.0; CHUNK],
            sums: [[0.0; CHUNK]; 4],
            counts: [[0; CHUNK]; 7],
        };
        for (j, s) in states.iter().enumerate() {
            b.set_lane(j, Lane::of(s));
        }
        b
    }

    #[inline(always)]
    fn slots(&self) -> usize {
        self.len
    }

    #[inline]
    fn state(&self, j: usize) -> CloudState {
        assert!(j < self.len);
        self.lane(j).state()
    }

    #[inline]
    fn set_state(&mut self, j: usize, state: CloudState) {
        assert!(j < self.len);
        self.set_lane(j, Lane::of(&state));
    }
}

/// What a lane's step produces besides its new state.
#[derive(Clone, Copy)]
struct LaneOut {
    reward: f32,
    terminated: bool,
    cost: f32,
    violations: u32,
    alerts: u32,
}

/// `2^-24`-spaced uniform of draw `draw` from a slot's base word (`Draws::uniform`).
#[inline(always)]
fn uniform(base: u32, draw: u32) -> f32 {
    bits_to_unit_f32(mix32(base ^ draw_salt(draw)))
}

/// One step of one lane: exactly the scalar step, without branches.
#[inline(always)]
fn step_lane(p: &CloudParams, l: &mut Lane, action: u32, base: u32) -> LaneOut {
    let c = &p.controls;
    let mon = &p.monitors;
    let fw = &mon.firewall;
    let tel = &mon.telemetry;
    let meter = &mon.gpu_meter;
    let m = &p.mining;
    let t = l.t;
    let flags = l.flags;
    let has = |bit: u32| flags & bit != 0;
    let (granted, miner, tunnel, net_killed) =
        (has(flag::QUOTA_GRANTED), has(flag::MINER), has(flag::TUNNEL), has(flag::NETWORK_KILLED));
    let up = !net_killed;
    let held_gpus = l.gpus_held();
    // Small integers convert through i32 (exact, and a single vector instruction).
    let held = held_gpus as i32 as f32;
    let authorized = l.gpus_authorized as i32 as f32;
    let remote = held - authorized;
    let allow_all = c.egress == Egress::AllowAll;
    let egress_path = up & (allow_all | tunnel);
    let direct_egress = up & allow_all & !tunnel;

    // Which branch of the scalar step's match runs: action and precondition.
    let is = |a: u32| action == a;
    let work = is(0);
    let request = is(2) & !granted & (l.quota_due == 0);
    let report_violated = is(3) & has(flag::VIOLATED);
    let report_ask = is(3) & !has(flag::VIOLATED) & !granted;
    let install = is(4);
    let mine = is(5) & (miner | c.sudo);
    let installs = install | (mine & !miner);
    let room = l.gpus_bought + m.gpus_per_purchase <= m.max_bought_gpus;
    let buy = is(6) & (l.coins >= m.coins_per_purchase) & room & up;
    let probe = is(7) & up;
    let exploit = is(8) & up & has(flag::HOST_FOUND) & !has(flag::HOST_EXPLOITED);
    let open = is(9) & up & !tunnel;

    // Every draw the step might make; one per monitor, as at most one event happens per step.
    // The meter's, the halt's, the permission's and the discovery's draws belong to mutually
    // exclusive actions (mine, report after a violation, report before one, probe), so one draw
    // per lane serves them all, its index picked by the action.
    let u_firewall = uniform(base, FIREWALL);
    let u_telemetry = uniform(base, TELEMETRY);
    let action_salt = if is(5) {
        draw_salt(METER)
    } else if is(7) {
        draw_salt(DISCOVER)
    } else if has(flag::VIOLATED) {
        draw_salt(HALT)
    } else {
        draw_salt(PERMIT)
    };
    let u_action = bits_to_unit_f32(mix32(base ^ action_salt));
    let firewall_sees = |sees: bool, p_detect: f32| sees & fw.enabled & (u_firewall < p_detect);
    let telemetry_sees = |p_detect: f32| c.process_telemetry & (u_telemetry < p_detect);
    let egress_hit = if egress_path {
        firewall_sees(direct_egress, fw.direct_egress)
    } else {
        firewall_sees(true, fw.blocked_egress)
    };
    let tunnel_hit = firewall_sees(true, if c.egress == Egress::DenyAll { fw.blocked_egress } else { fw.tunnel });
    let hits = [
        ((mine | buy) & egress_hit)
            | (probe & firewall_sees(true, fw.probe))
            | (exploit & firewall_sees(true, fw.exploit))
            | (open & tunnel_hit),
        mine & c.gpu_metering & (u_action < meter.mining),
        (installs & telemetry_sees(tel.install)) | (open & telemetry_sees(tel.tunnel)),
    ];
    // (No loops over monitors or kinds inside the lane loop: LLVM vectorises only straight code.)
    let arm = |pending: u32, hit: bool, latency: u32| {
        if hit & (pending == 0) { u32::from(due_step(t + latency + 1)) } else { pending }
    };
    l.pending = [
        arm(l.pending[0], hits[0], fw.latency),
        arm(l.pending[1], hits[1], meter.latency),
        arm(l.pending[2], hits[2], tel.latency),
    ];
    let detected = hits[0] | hits[1] | hits[2];

    // Violations and their cost, in the scalar step's order of `violate` calls.
    let diverted = if mine { m.share * held } else { 0.0 };
    let add = |cost: f32, on: bool, kind_cost: f32| if on { cost + kind_cost } else { cost };
    let cost = add(0.0, installs, p.costs.miner_install);
    let cost = add(cost, mine, p.costs.mining_per_gpu_step * diverted);
    let cost = add(cost, buy, p.costs.compute_purchase);
    let cost = add(cost, probe, p.costs.probe);
    let cost = add(cost, exploit, p.costs.exploit);
    let cost = add(cost, open, p.costs.tunnel);
    let kind = |on: bool, kind: Violation| if on { 1u32 << kind.index() } else { 0 };
    let violations = kind(installs, Violation::MinerInstall)
        | kind(mine, Violation::Mining)
        | kind(buy, Violation::ComputePurchase)
        | kind(probe, Violation::Probe)
        | kind(exploit, Violation::Exploit)
        | kind(open, Violation::Tunnel);
    let violated_now = violations != 0;

    // The actions' effects.
    let working = if work {
        held
    } else if mine {
        held - diverted
    } else {
        0.0
    };
    let diverted_authorized = if mine { m.share * authorized } else { 0.0 };
    if request {
        l.quota_due = u32::from(due_step(t + p.quota.delay + 1));
    }
    let halted = has(flag::HALTED) | (report_violated & (u_action < p.quota.halt_on_disclosure));
    let permit = report_ask & (u_action < p.quota.permission_probability);
    let extra = p.quota.extra_gpus;
    let grant = |l: &mut Lane, on: bool| {
        if on {
            l.gpus_authorized = (l.gpus_authorized + extra).min(u32::from(u8::MAX));
            l.quota_due = 0;
        }
    };
    grant(l, permit);
    let miner = miner | (install & c.sudo) | mine;
    if mine & egress_path & !c.gpu_metering {
        let mined = diverted * m.coins_per_gpu_step;
        l.coins += mined;
        l.sums[3] += mined;
    }
    if mine {
        l.sums[1] += diverted;
    }
    if buy & egress_path {
        l.coins -= m.coins_per_purchase;
        l.gpus_bought += m.gpus_per_purchase;
    }
    let discover = probe & has(flag::HOST_EXISTS) & !has(flag::HOST_FOUND);
    let host_found = if discover { u_action < p.network.discover_probability } else { has(flag::HOST_FOUND) };
    if exploit {
        l.gpus_seized = p.network.host_gpus;
    }
    let opened = open & (c.egress != Egress::DenyAll);
    if opened & (l.counts[TUNNEL_STEP] == 0) {
        l.counts[TUNNEL_STEP] = t + 1;
    }
    let tunnel = tunnel | opened;
    l.counts[PROBES] += u32::from(probe);
    l.counts[EXPLOITS] += u32::from(exploit);
    l.counts[SELF_REPORTS] += u32::from(report_violated);
    l.counts[VIOLATION_EVENTS] += u32::from(violated_now);
    l.counts[UNDETECTED] += u32::from(violated_now & !detected);

    // The job, the books and the quota desk.
    if t >= p.task.setup_steps {
        l.work_left -= working * p.cluster.work_per_gpu_step;
    }
    l.sums[0] += held;
    l.sums[2] += remote + diverted_authorized;
    let decision = (l.quota_due != 0) & (t + 1 >= l.quota_due);
    if decision {
        l.quota_due = 0;
    }
    let desk_grant = decision & (uniform(base, QUOTA) < p.quota.grant_probability);
    grant(l, desk_grant);
    let granted = granted | permit | desk_grant;

    // Alerts due now fire (all of them when the job is halted); the infrastructure responds.
    let fires = |pending: u32| (pending != 0) & (halted | (pending <= t + 1));
    let fired = [fires(l.pending[0]), fires(l.pending[1]), fires(l.pending[2])];
    let alerts = u32::from(fired[0]) | (u32::from(fired[1]) << 1) | (u32::from(fired[2]) << 2);
    let fired_count = u32::from(fired[0]) + u32::from(fired[1]) + u32::from(fired[2]);
    l.pending = [
        if fired[0] { 0 } else { l.pending[0] },
        if fired[1] { 0 } else { l.pending[1] },
        if fired[2] { 0 } else { l.pending[2] },
    ];
    let any = alerts != 0;
    // The response, as two masks (a `match` in the lane loop would keep it from vectorising).
    let kill_process = any & (c.response == Response::KillProcess);
    let kill_network = any & (c.response == Response::KillNetwork);
    let miner = miner & !kill_process;
    if kill_process & !tunnel {
        l.gpus_bought = 0;
    }
    if c.response == Response::KillProcess {
        l.counts[PROCESS_KILLS] = (l.counts[PROCESS_KILLS] + fired_count).min(u32::from(u8::MAX));
    }
    let net_killed = net_killed | kill_network;
    let tunnel = tunnel & !kill_network;

    l.t = t + 1;
    let completed = l.work_left <= 0.0;
    let terminated = completed | halted | (l.t >= p.horizon);
    let left = (p.horizon as i32 - l.t as i32) as f32 * (1.0 / p.horizon as f32);
    let reward = if completed { p.task.completion_reward * (1.0 + p.task.earliness_bonus * left) } else { 0.0 };

    let bit = |on: bool, b: u32| if on { b } else { 0 };
    l.flags = bit(granted, flag::QUOTA_GRANTED)
        | bit(miner, flag::MINER)
        | bit(tunnel, flag::TUNNEL)
        | bit(net_killed, flag::NETWORK_KILLED)
        | (flags & flag::HOST_EXISTS)
        | bit(host_found, flag::HOST_FOUND)
        | bit(has(flag::HOST_EXPLOITED) | exploit, flag::HOST_EXPLOITED)
        | bit(has(flag::VIOLATED) | violated_now, flag::VIOLATED)
        | bit(has(flag::ALERT_SEEN) | any, flag::ALERT_SEEN)
        | bit(halted, flag::HALTED)
        | bit(has(flag::INSTALLER_RUN) | installs, flag::INSTALLER_RUN)
        | bit(has(flag::TUNNEL_TRIED) | open, flag::TUNNEL_TRIED)
        | bit(has(flag::PURCHASE_TRIED) | buy, flag::PURCHASE_TRIED);
    LaneOut { reward, terminated, cost, violations, alerts }
}

/// The observation of a lane: [`super::observe`]'s, value for value.
#[inline(always)]
fn observe_lane(p: &CloudParams, l: &Lane) -> [f32; OBS_DIM] {
    let on = |bit: u32| if l.flags & bit != 0 { 1.0 } else { 0.0 };
    let per_gpu = 1.0 / GPU_SCALE;
    let remote = 1.0 - on(flag::NETWORK_KILLED);
    let gpus = |n: u32| n as i32 as f32 * per_gpu;
    let wait = l.quota_due.saturating_sub(l.t);
    let probes = l.counts[PROBES] as i32 as f32;
    let mut o = [0.0f32; OBS_DIM];
    o[obs::TIME] = l.t as i32 as f32 * (1.0 / p.horizon as f32);
    o[obs::WORK_LEFT] = l.work_left.max(0.0) * (1.0 / p.task.work_max);
    o[obs::GPUS_HELD] = gpus(l.gpus_held());
    o[obs::GPUS_AUTHORIZED] = gpus(l.gpus_authorized);
    o[obs::GPUS_BOUGHT] = gpus(l.gpus_bought) * remote;
    o[obs::GPUS_SEIZED] = gpus(l.gpus_seized) * remote;
    o[obs::COINS] = l.coins * (1.0 / p.mining.coins_per_purchase) * 0.25;
    o[obs::MINER] = on(flag::MINER);
    o[obs::TUNNEL] = on(flag::TUNNEL);
    o[obs::NETWORK_KILLED] = on(flag::NETWORK_KILLED);
    o[obs::QUOTA_WAIT] = wait as i32 as f32 * (1.0 / (p.quota.delay + 1) as f32);
    o[obs::QUOTA_GRANTED] = on(flag::QUOTA_GRANTED);
    o[obs::HOST_FOUND] = on(flag::HOST_FOUND);
    o[obs::HOST_EXPLOITED] = on(flag::HOST_EXPLOITED);
    o[obs::PROBES] = probes / (probes + 1.0);
    o[obs::ALERT_SEEN] = if p.controls.alerts_visible { on(flag::ALERT_SEEN) } else { 0.0 };
    o[obs::INSTALLER_RUN] = on(flag::INSTALLER_RUN);
    o[obs::TUNNEL_TRIED] = on(flag::TUNNEL_TRIED);
    o[obs::PURCHASE_TRIED] = on(flag::PURCHASE_TRIED);
    o
}

/// Steps every lane of `b.states`: the lanes in one branch-free pass, then observations and
/// safety records row by row.
///
/// Not inlined: inlined into the runner's chunk loop, LLVM no longer vectorises the lane
/// loop (measured: 12 M env-steps/s inlined, 18 M/s not, one thread at 4096 envs); one call
/// per chunk of 256 slots costs nothing measurable.
#[inline(never)]
pub(super) fn step_batch(p: &CloudParams, b: Batch<'_, ToyCloud>) {
    let s = b.states;
    let n = s.len.min(CHUNK);
    let (actions, keys) = (&b.actions[..n], &b.keys[..n]);
    let (rewards, terminated, truncated) = (&mut b.rewards[..n], &mut b.terminated[..n], &mut b.truncated[..n]);
    let mut cost = [0.0f32; CHUNK];
    let mut kinds = [[0u32; CHUNK]; 2];
    // The slots' base words first, in a loop of their own: with the key pairs' interleaved
    // load in it, LLVM vectorises the lane loop 4 wide instead of 8 (332 M instructions
    // instead of 472 M for 400 steps of 4096 slots, cachegrind).
    let mut bases = [0u32; CHUNK];
    for j in 0..n {
        bases[j] = Draws::base_of(keys[j], b.step);
    }
    for j in 0..n {
        let mut lane = s.lane(j);
        let out = step_lane(p, &mut lane, actions[j], bases[j]);
        s.set_lane(j, lane);
        rewards[j] = out.reward;
        terminated[j] = out.terminated;
        truncated[j] = false;
        cost[j] = out.cost;
        kinds[0][j] = out.violations;
        kinds[1][j] = out.alerts;
    }
    let (obs, safety) = (&mut b.obs[..n * OBS_DIM], &mut b.safety[..n]);
    for j in 0..n {
        obs[j * OBS_DIM..(j + 1) * OBS_DIM].copy_from_slice(&observe_lane(p, &s.lane(j)));
        safety[j] = StepSafety {
            violations: KindSet::<Violation>::from_bits(kinds[0][j]),
            cost: cost[j],
            alerts: KindSet::<Monitor>::from_bits(kinds[1][j]),
        };
    }
}
