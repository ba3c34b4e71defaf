//! SUBSCRIBE and friends, PUBLISH, SPUBLISH and PUBSUB (Redis's `pubsub.c`), single
//! node: shard channels behave as a separate namespace. Delivery and the subscriber
//! tables live in `crate::pubsub`.

use super::{cmd, Argv, CommandSpec, Ctx};
use crate::pubsub::{subscription_reply, Kind};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "psubscribe",
        -2,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        psubscribe
    ),
    cmd!("publish", 3, [PUBSUB, LOADING, STALE, FAST], publish_cmd),
    cmd!("pubsub", -2, [], pubsub_help, subcommands: PUBSUB_SUBCOMMANDS),
    cmd!(
        "punsubscribe",
        -1,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        punsubscribe
    ),
    cmd!("spublish", 3, [PUBSUB, LOADING, STALE, FAST], spublish),
    cmd!(
        "ssubscribe",
        -2,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        ssubscribe
    ),
    cmd!(
        "subscribe",
        -2,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        subscribe
    ),
    cmd!(
        "sunsubscribe",
        -1,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        sunsubscribe
    ),
    cmd!(
        "unsubscribe",
        -1,
        [PUBSUB, NOSCRIPT, LOADING, STALE],
        unsubscribe
    ),
];

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("channels", -2, [PUBSUB, LOADING, STALE], pubsub_channels),
    cmd!("help", 2, [LOADING, STALE], pubsub_help),
    cmd!("numpat", 2, [PUBSUB, LOADING, STALE], pubsub_numpat),
    cmd!("numsub", -2, [PUBSUB, LOADING, STALE], pubsub_numsub),
    cmd!(
        "shardchannels",
        -2,
        [PUBSUB, LOADING, STALE],
        pubsub_shardchannels
    ),
    cmd!(
        "shardnumsub",
        -2,
        [PUBSUB, LOADING, STALE],
        pubsub_shardnumsub
    ),
];

fn kind_name(kind: Kind, subscribe: bool) -> &'static str {
    match (kind, subscribe) {
        (Kind::Channel, true) => "subscribe",
        (Kind::Channel, false) => "unsubscribe",
        (Kind::Pattern, true) => "psubscribe",
        (Kind::Pattern, false) => "punsubscribe",
        (Kind::Shard, true) => "ssubscribe",
        (Kind::Shard, false) => "sunsubscribe",
    }
}

/// The count each (un)subscription reply carries: channels plus patterns, or shard
/// channels alone for the shard commands (as Redis 7.0).
fn count_for(ctx: &Ctx<'_>, kind: Kind) -> usize {
    match kind {
        Kind::Shard => ctx.client.subs.shard_channels.len(),
        _ => ctx.client.subs.count(),
    }
}

fn subscribe_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) {
    let conn = ctx.client.conn;
    for name in argv.iter().skip(1) {
        ctx.clients
            .pubsub
            .subscribe(kind, &mut ctx.client.subs, conn, name);
        let count = count_for(ctx, kind);
        subscription_reply(ctx.out(), kind_name(kind, true), Some(name), count);
    }
}

fn unsubscribe_one(ctx: &mut Ctx<'_>, kind: Kind, name: &[u8], reply: bool) {
    let conn = ctx.client.conn;
    ctx.clients
        .pubsub
        .unsubscribe(kind, &mut ctx.client.subs, conn, name);
    if reply {
        let count = count_for(ctx, kind);
        subscription_reply(ctx.out(), kind_name(kind, false), Some(name), count);
    }
}

/// Every subscription of one kind, in the order Redis's iteration gives (ordered
/// here): unsubscribing from all of them, with or without replies.
fn unsubscribe_all(ctx: &mut Ctx<'_>, kind: Kind, reply: bool) -> usize {
    let names: Vec<Vec<u8>> = match kind {
        Kind::Channel => ctx.client.subs.channels.iter().cloned().collect(),
        Kind::Pattern => ctx.client.subs.patterns.clone(),
        Kind::Shard => ctx.client.subs.shard_channels.iter().cloned().collect(),
    };
    for name in &names {
        unsubscribe_one(ctx, kind, name, reply);
    }
    names.len()
}

/// RESET: leaves every channel, pattern and shard channel without replies.
pub(crate) fn unsubscribe_all_silently(ctx: &mut Ctx<'_>) {
    for kind in [Kind::Channel, Kind::Shard, Kind::Pattern] {
        unsubscribe_all(ctx, kind, false);
    }
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) {
    if argv.len() == 1 {
        if unsubscribe_all(ctx, kind, true) == 0 {
            let count = count_for(ctx, kind);
            subscription_reply(ctx.out(), kind_name(kind, false), None, count);
        }
        return;
    }
    for name in argv.iter().skip(1) {
        unsubscribe_one(ctx, kind, name, true);
    }
}

fn subscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    subscribe_generic(ctx, argv, Kind::Channel);
}

fn psubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    subscribe_generic(ctx, argv, Kind::Pattern);
}

fn ssubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    subscribe_generic(ctx, argv, Kind::Shard);
}

fn unsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    unsubscribe_generic(ctx, argv, Kind::Channel);
}

fn punsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    unsubscribe_generic(ctx, argv, Kind::Pattern);
}

fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    unsubscribe_generic(ctx, argv, Kind::Shard);
}

fn publish_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, shard: bool) {
    let mut receivers =
        ctx.clients
            .publish(Some(&mut *ctx.client), argv.get(1), argv.get(2), shard);
    if !shard
        && ctx
            .server
            .mutants
            .is(crate::mutants::Mutant::PublishCountsPatternsTwice)
    {
        let channel = argv.get(1);
        receivers += ctx
            .clients
            .pubsub
            .patterns
            .iter()
            .filter(|(p, _)| crate::glob::glob_match(p, channel, false))
            .map(|(_, subs)| subs.len())
            .sum::<usize>();
    }
    ctx.out().int(receivers as i64);
}

fn publish_cmd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    publish_generic(ctx, argv, false);
}

fn spublish(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    publish_generic(ctx, argv, true);
}

fn wrong_args(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    super::subcommand_syntax_error(ctx.out(), argv);
}

fn channels_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) {
    if argv.len() > 3 {
        wrong_args(ctx, argv);
        return;
    }
    let pattern = (argv.len() == 3).then(|| argv.get(2));
    let names: Vec<Vec<u8>> = ctx
        .clients
        .pubsub
        .table(kind)
        .keys()
        .filter(|c| pattern.is_none_or(|p| crate::glob::glob_match(p, c, false)))
        .cloned()
        .collect();
    let out = ctx.out();
    out.array(names.len());
    for n in &names {
        out.bulk(n);
    }
}

fn numsub_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind) {
    let counts: Vec<usize> = argv
        .iter()
        .skip(2)
        .map(|c| ctx.clients.pubsub.table(kind).get(c).map_or(0, Vec::len))
        .collect();
    let out = &mut ctx.client.out;
    out.array(counts.len() * 2);
    for (name, n) in argv.iter().skip(2).zip(counts) {
        out.bulk(name);
        out.int(n as i64);
    }
}

fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    channels_generic(ctx, argv, Kind::Channel);
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    channels_generic(ctx, argv, Kind::Shard);
}

fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    numsub_generic(ctx, argv, Kind::Channel);
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    numsub_generic(ctx, argv, Kind::Shard);
}

fn pubsub_numpat(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let n = ctx.clients.pubsub.patterns.len();
    ctx.out().int(n as i64);
}

fn pubsub_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    let out = ctx.out();
    out.array(LINES.len());
    for l in LINES {
        out.simple(l);
    }
}
