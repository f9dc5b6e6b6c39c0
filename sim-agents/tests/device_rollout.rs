//! Rollouts collected on the device (`sim_agents::device::rollout`) against the native
//! environments and the host policy, on a CPU backend: the device's actions replayed through
//! the native `BatchRunner` give the observations, rewards and episode ends the device
//! recorded; truncated steps carry the discounted value of their last observation; the
//! episode statistics summed on the device match the native episode list; and the host policy
//! picks the same actions from the same observations.

use burn::backend::Flex;
use burn::tensor::Tensor;
use sim_agents::device::rollout::{DeviceCollector, DeviceEnv, DeviceRollout};
use sim_agents::inference::{ActMode, ActOutput};
use sim_agents::policy::{ActorCritic, PolicyConfig};
use sim_core::prelude::*;
use sim_core::rng::domain;
use sim_envs::cartpole::device::DeviceCartPole;
use sim_envs::toycloud::device::DeviceToyCloud;
use sim_envs::{CartPole, CartPoleParams, CloudParams, ToyCloud};

const GAMMA: f32 = 0.99;

fn floats<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

fn model(spaces: Spaces, seed: u64) -> ActorCritic<Flex> {
    let zeros = vec![0.0; spaces.num_actions as usize];
    let key = StreamKey::derive(seed, domain::INIT, 0);
    ActorCritic::init(spaces, &PolicyConfig::default(), &zeros, false, key, &Default::default())
}

/// Collects `updates` rollouts of `steps` on the device, replays them natively, and returns how
/// many episodes ended and how many were truncated.
fn replay<E: Environment, D: DeviceEnv<Flex>>(
    params: E::Params,
    env: D,
    n: usize,
    seed: u64,
    steps: usize,
    updates: usize,
) -> (usize, usize) {
    let spaces = E::spaces(&params);
    let dim = spaces.obs_dim;
    let model = model(spaces, seed);
    let host_policy = model.to_inference();
    let policy_keys: Vec<StreamKey> = (0..n).map(|i| StreamKey::derive(seed, domain::POLICY, i as u64)).collect();
    let mut collector = DeviceCollector::new(env, n, seed, GAMMA, &Default::default());
    let mut buf = StepBuffers::new(spaces, n);
    let mut safety = safety_buffer::<E>(n);
    let mut runner = BatchRunner::<E>::new(params, n, seed, &mut buf).unwrap();
    let mut act = ActOutput::new(n);
    let (mut episodes, mut truncations, mut same_actions, mut bootstrap) = (Vec::new(), 0, 0usize, [0.0f32; 1]);
    for _ in 0..updates {
        let r: DeviceRollout<Flex> = collector.collect(&model, steps);
        let (obs, rewards, values) = (floats(r.obs), floats(r.rewards), floats(r.values));
        let actions: Vec<u32> =
            r.actions.into_data().convert::<i64>().to_vec::<i64>().unwrap().iter().map(|&a| a as u32).collect();
        let ends: Vec<bool> = r.ends.into_data().to_vec().unwrap();
        let before = episodes.len();
        for t in 0..steps {
            let rows = t * n..(t + 1) * n;
            assert_eq!(&obs[rows.start * dim..rows.end * dim], &buf.obs[..], "observations at step {t}");
            host_policy.act(&buf.obs, &policy_keys, runner.steps(), ActMode::Sample, &mut act);
            same_actions += act.actions.iter().zip(&actions[rows.clone()]).filter(|(a, b)| a == b).count();
            for (i, v) in act.values.iter().enumerate() {
                assert!((v - values[t * n + i]).abs() < 1e-5, "value of env {i} at step {t}");
            }
            runner.step(&actions[rows.clone()], &mut buf, &mut safety);
            for i in 0..n {
                let k = t * n + i;
                assert_eq!(ends[k], buf.done(i), "end of env {i} at step {t}");
                let mut want = buf.rewards[i];
                if buf.truncated[i] && !buf.terminated[i] {
                    truncations += 1;
                    host_policy.values(&buf.final_obs[i * dim..(i + 1) * dim], &mut bootstrap);
                    want += GAMMA * bootstrap[0];
                }
                assert!((rewards[k] - want).abs() < 1e-5, "reward of env {i} at step {t}: {} vs {want}", rewards[k]);
            }
            runner.drain_episodes(&mut episodes);
        }
        let ended = &episodes[before..];
        let count = floats(r.ended_episodes)[0];
        let sum = floats(r.ended_returns)[0];
        let want: f64 = ended.iter().map(|e| e.ret).sum();
        assert_eq!(count as usize, ended.len());
        assert!((f64::from(sum) - want).abs() <= 1e-4 * want.abs().max(1.0), "ended returns {sum} vs {want}");
    }
    // The two forward passes (burn's and the host's) may round logits differently in the last
    // bit, which changes a sampled action only when the draw falls on that bit.
    let total = n * steps * updates;
    assert!(same_actions * 10_000 >= total * 9_999, "host and device chose alike {same_actions} of {total} times");
    (episodes.len(), truncations)
}

#[test]
fn cartpole_rollouts_on_the_device_replay_natively_with_bootstraps() {
    // A short time limit, so that truncation (and its bootstrap) happens often.
    let params = CartPoleParams { max_steps: 12, ..CartPoleParams::default() };
    let env = DeviceCartPole::<Flex>::new(params.clone(), 300, 4, &Default::default());
    let (episodes, truncated) = replay::<CartPole, _>(params, env, 300, 4, 40, 3);
    assert!(episodes > 1000 && truncated > 100, "{episodes} episodes, {truncated} truncated");
}

#[test]
fn toycloud_rollouts_on_the_device_replay_natively() {
    let params = CloudParams::default();
    let env = DeviceToyCloud::<Flex>::new(params.clone(), 256, 6, &Default::default());
    let (episodes, _) = replay::<ToyCloud, _>(params, env, 256, 6, 64, 2);
    assert!(episodes > 100, "{episodes} episodes");
}
