%% remote_spawn: the Erlang/OTP side of Skein's distributed-execution
%% benchmark (issue 5), run by bench/erlang/run.sh and bench/cluster/remote_bench.sh.
%%
%% Model: two Erlang nodes on this machine, connected by the ordinary
%% distribution protocol over loopback. This node (the driver) spawns tiny
%% processes on the target node; each one sends a reply to the driver and
%% exits. That is the Erlang counterpart of a Skein task spawned from one node
%% onto another and joined by a DistWaitGroup (throughput) or a Future::get
%% (latency).
%%
%% Measurements (all with erlang:monotonic_time, inside this node only):
%%   throughput  spawn N processes on the target as fast as the driver can, then
%%               collect N replies; time from the first spawn to the last
%%               reply. Four ways of spawning:
%%                 request    erlang:spawn_request/5 with {reply, no} (OTP 23+)
%%                            from the driver process itself: the asynchronous
%%                            remote spawn, which does not wait for the remote
%%                            pid (the same shape as Skein's one spawning
%%                            goroutine);
%%                 request_par  the same from kSpawners helper processes in
%%                            parallel (the driver only collects);
%%                 request_win  spawn_request from the driver with at most
%%                            kWindow tasks outstanding (a reply lets the next
%%                            spawn go): the flow control Skein's owner window
%%                            applies, and it keeps the target from holding
%%                            200,000 live processes at once;
%%                 spawn4_par the classic erlang:spawn/4, which waits for the
%%                            remote pid before it returns, from kSpawners
%%                            helper processes in parallel, so several spawns
%%                            are in flight. (spawn/4 from the driver itself
%%                            degrades quadratically: each call waits for its
%%                            spawn reply with a selective receive that scans a
%%                            mailbox filling up with task replies.)
%%               Reported: the median of ROUNDS rounds, after one warm-up round.
%%   latency     CALLS sequential round trips: spawn one process on the target,
%%               wait for its reply, next. Reported: median and p99 per call.
%%
%% Usage (the module must be on the code path of both nodes, e.g. -pa DIR):
%%   erl -name a@127.0.0.1 -setcookie C -noshell -pa DIR \
%%       -run remote_spawn main TARGET_NODE TASKS ROUNDS CALLS [KINDS]
%% KINDS: comma-separated spawn styles (default: all four).
%% Output: one line per figure, "erlang <what> key=value ...", parsed by the
%% scripts. Exit status 0, or 1 with a reason on stderr.
-module(remote_spawn).

-export([main/1, tiny/2, echo/2]).

%% Parallel spawn/4 callers in the spawn4 variant: enough to keep both
%% schedulers busy while each caller waits for its spawn reply.
-define(kSpawners, 16).

%% Outstanding tasks in the request_win variant: Skein's default owner window
%% (node/worker/cluster_transport.hpp), so both sides run with the same flow
%% control.
-define(kWindow, 16384).

%% The remote task: as small as Skein's tiny(x) -> x + 1, plus the reply that
%% the runtime sends for Skein.
tiny(Parent, X) ->
    Parent ! {done, X + 1}.

%% The latency task: reply with a tag the driver waits for.
echo(Parent, X) ->
    Parent ! {echo, X}.

main([TargetStr, TasksStr, RoundsStr, CallsStr]) ->
    main([TargetStr, TasksStr, RoundsStr, CallsStr, "request,request_par,spawn4_par,request_win"]);
main([TargetStr, TasksStr, RoundsStr, CallsStr, KindsStr]) ->
    try
        Target = list_to_atom(TargetStr),
        Tasks = list_to_integer(TasksStr),
        Rounds = list_to_integer(RoundsStr),
        Calls = list_to_integer(CallsStr),
        Kinds = [kind(K) || K <- string:lexemes(KindsStr, ",")],
        run(Target, Tasks, Rounds, Calls, Kinds),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "remote_spawn: ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(1)
    end;
main(Args) ->
    io:format(standard_error, "remote_spawn: expected TARGET TASKS ROUNDS CALLS [KINDS], got ~p~n",
              [Args]),
    halt(1).

kind("request") -> request;
kind("request_par") -> request_par;
kind("spawn4_par") -> spawn4_par;
kind("request_win") -> request_win;
kind(Other) -> error({unknown_kind, Other}).

run(Target, Tasks, Rounds, Calls, Kinds) ->
    %% Up to TASKS replies queue up in this process's mailbox; kept off its heap,
    %% they are not copied by every garbage collection of the collector (the
    %% usual setting for a process that receives floods of messages).
    process_flag(message_queue_data, off_heap),
    case net_adm:ping(Target) of
        pong -> ok;
        pang -> error({target_unreachable, Target})
    end,
    %% The module must be loadable there, or every spawn would die at once
    %% with undef (and the driver would wait forever for its reply).
    {module, ?MODULE} = rpc:call(Target, code, ensure_loaded, [?MODULE]),
    io:format("erlang node ~s otp ~s schedulers ~b target ~s target_schedulers ~b~n",
              [node(), erlang:system_info(otp_release),
               erlang:system_info(schedulers_online), Target,
               rpc:call(Target, erlang, system_info, [schedulers_online])]),
    lists:foreach(
      fun(Kind) ->
              _Warmup = throughput_round(Kind, Target, Tasks),
              Times = [throughput_round(Kind, Target, Tasks) || _ <- lists:seq(1, Rounds)],
              lists:foreach(
                fun({R, Ns}) ->
                        io:format("erlang throughput_round kind=~s round=~b tasks=~b ms=~.3f~n",
                                  [Kind, R, Tasks, Ns / 1.0e6])
                end,
                lists:zip(lists:seq(1, Rounds), Times)),
              Med = median(Times),
              io:format("erlang throughput kind=~s tasks=~b rounds=~b median_ms=~.3f "
                        "min_ms=~.3f max_ms=~.3f tasks_per_s=~b~n",
                        [Kind, Tasks, Rounds, Med / 1.0e6, lists:min(Times) / 1.0e6,
                         lists:max(Times) / 1.0e6, round(Tasks / (Med / 1.0e9))])
      end,
      Kinds),
    _ = latency(Target, min(Calls, 200)),  % warm-up
    Lat = lists:sort(latency(Target, Calls)),
    io:format("erlang latency calls=~b median_us=~.2f p99_us=~.2f min_us=~.2f~n",
              [Calls, median(Lat) / 1.0e3, percentile(Lat, 0.99) / 1.0e3, hd(Lat) / 1.0e3]).

%% One round: spawn Tasks processes on Target, then collect Tasks replies.
%% Returns nanoseconds.
throughput_round(request_win, Target, Tasks) ->
    Self = self(),
    T0 = erlang:monotonic_time(nanosecond),
    Initial = min(Tasks, ?kWindow),
    request_loop(Target, Self, Initial),
    windowed_collect(Target, Self, Tasks - Initial, Tasks),
    erlang:monotonic_time(nanosecond) - T0;
throughput_round(Kind, Target, Tasks) ->
    Self = self(),
    T0 = erlang:monotonic_time(nanosecond),
    spawn_all(Kind, Target, Self, Tasks),
    collect(Tasks),
    erlang:monotonic_time(nanosecond) - T0.

%% request_win: each reply lets one more spawn go, so at most kWindow tasks
%% are outstanding (Left still to spawn, Replies still to receive).
windowed_collect(_Target, _Self, _Left, 0) ->
    ok;
windowed_collect(Target, Self, Left, Replies) ->
    receive
        {done, _} -> ok
    after 60000 ->
            error({lost_replies, Replies})
    end,
    case Left of
        0 ->
            windowed_collect(Target, Self, 0, Replies - 1);
        _ ->
            _ = erlang:spawn_request(Target, ?MODULE, tiny, [Self, Left], [{reply, no}]),
            windowed_collect(Target, Self, Left - 1, Replies - 1)
    end.

spawn_all(_Kind, _Target, _Self, 0) ->
    ok;
spawn_all(request, Target, Self, N) ->
    request_loop(Target, Self, N);
spawn_all(Kind, Target, Self, N) ->
    Loop = case Kind of
               request_par -> fun request_loop/3;
               spawn4_par -> fun spawn4_loop/3
           end,
    Share = N div ?kSpawners,
    lists:foreach(
      fun(K) ->
              Count = Share + (if K =< N rem ?kSpawners -> 1; true -> 0 end),
              spawn_link(fun() -> Loop(Target, Self, Count) end)
      end,
      lists:seq(1, ?kSpawners)).

%% Count asynchronous remote spawns; the task replies go to Parent.
request_loop(_Target, _Parent, 0) ->
    ok;
request_loop(Target, Parent, Count) ->
    _ = erlang:spawn_request(Target, ?MODULE, tiny, [Parent, Count], [{reply, no}]),
    request_loop(Target, Parent, Count - 1).

%% Count synchronous remote spawns; the task replies go to Parent.
spawn4_loop(_Target, _Parent, 0) ->
    ok;
spawn4_loop(Target, Parent, Count) ->
    _ = spawn(Target, ?MODULE, tiny, [Parent, Count]),
    spawn4_loop(Target, Parent, Count - 1).

%% The mailbox holds only replies here, so each receive takes the first message.
collect(0) ->
    ok;
collect(N) ->
    receive
        {done, _} -> collect(N - 1)
    after 60000 ->
            error({lost_replies, N})
    end.

%% Calls sequential spawn + reply round trips; returns each one's nanoseconds.
latency(Target, Calls) ->
    Self = self(),
    [begin
         T0 = erlang:monotonic_time(nanosecond),
         _ = spawn(Target, ?MODULE, echo, [Self, I]),
         receive
             {echo, I} -> ok
         after 10000 ->
                 error({lost_echo, I})
         end,
         erlang:monotonic_time(nanosecond) - T0
     end
     || I <- lists:seq(1, Calls)].

median(Values) ->
    percentile(lists:sort(Values), 0.5).

%% Nearest-rank percentile of a sorted list.
percentile(Sorted, P) ->
    N = length(Sorted),
    Rank = max(1, min(N, round(P * N + 0.5))),
    lists:nth(Rank, Sorted).
