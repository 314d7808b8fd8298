%% The Erlang side of Troupe's differential supervision suite: runs each scenario of a
%% file of terms on OTP's own `supervisor` and prints one trace line per event, as
%% `Scenario|Line`: `start:Id`, `shutdown:Id` (asked to stop), `stop:Id` (its process
%% ended), `answer:Request:Result`, `which:...`, `count:...` and `exit:Reason`.
%% One tracer process prints every line, in the order the events reach it.
-module(troupe_otp_diff).
-behaviour(supervisor).
-export([main/1, init/1, start_child/3]).

main([File]) ->
    {ok, Scenarios} = file:consult(File),
    %% Supervisor and crash reports would interleave with the trace.
    logger:set_primary_config(level, none),
    process_flag(trap_exit, true),
    lists:foreach(fun run/1, Scenarios),
    halt(0).

init({Flags, Specs}) -> {ok, {Flags, Specs}}.

%% -- the tracer ---------------------------------------------------------------------

%% A child that ends by itself reports it (`ending`) and waits for the tracer before it
%% exits, so its `stop` line precedes whatever its supervisor does next. A child that is
%% killed cannot: the tracer is linked to it, and OTP sends link exits before the
%% monitor `DOWN` its supervisor waits for.
tracer(Name) ->
    process_flag(trap_exit, true),
    tracing(Name).

tracing(Name) ->
    receive
        {started, Id, Pid} ->
            link(Pid),
            put(Pid, Id),
            line(Name, "start:" ++ atom_to_list(Id)),
            tracing(Name);
        {ending, Pid} ->
            line(Name, "stop:" ++ atom_to_list(get(Pid))),
            put(Pid, ended),
            Pid ! ended,
            tracing(Name);
        {'EXIT', Pid, _} ->
            case get(Pid) of
                undefined -> ok;
                ended -> ok;
                Id -> line(Name, "stop:" ++ atom_to_list(Id))
            end,
            erase(Pid),
            tracing(Name);
        {line, Text} ->
            line(Name, Text),
            tracing(Name);
        {flush, From} ->
            From ! flushed
    end.

line(Name, Text) -> io:format("~s|~s~n", [Name, Text]).

trace(Text) -> get(tracer) ! {line, Text}.

%% -- a child ------------------------------------------------------------------------

%% Started by the supervisor: returns once the child has announced itself.
start_child(Tracer, Id, {OnShutdown, StartFails}) ->
    case StartFails of
        true -> {error, cannot_start};
        false ->
            Starter = self(),
            Pid = spawn_link(fun() ->
                process_flag(trap_exit, true),
                Tracer ! {started, Id, self()},
                Starter ! {ready, self()},
                child(Tracer, Id, OnShutdown)
            end),
            receive {ready, Pid} -> {ok, Pid} end
    end.

child(Tracer, Id, OnShutdown) ->
    receive
        {'EXIT', _From, shutdown} ->
            Tracer ! {line, "shutdown:" ++ atom_to_list(Id)},
            case OnShutdown of
                exit -> ending(Tracer, shutdown);
                hang -> hang()
            end;
        finish -> ending(Tracer, normal);
        crash -> ending(Tracer, crash)
    end.

ending(Tracer, Reason) ->
    Tracer ! {ending, self()},
    receive ended -> exit(Reason) end.

hang() -> receive never -> ok end.

%% -- a scenario ---------------------------------------------------------------------

spec(Tracer, {sup, Id, Restart, Strategy, Intensity, Period, Children}) ->
    Flags = #{strategy => Strategy, intensity => Intensity, period => Period},
    #{id => Id,
      start => {supervisor, start_link,
                [?MODULE, {Flags, [spec(Tracer, Child) || Child <- Children]}]},
      restart => Restart,
      shutdown => infinity,
      type => supervisor};
spec(Tracer, {Id, Restart, Shutdown, Significant, OnShutdown, StartFails}) ->
    #{id => Id,
      start => {?MODULE, start_child, [Tracer, Id, {OnShutdown, StartFails}]},
      restart => Restart,
      shutdown => Shutdown,
      significant => Significant,
      type => worker}.

run({Name, Strategy, Intensity, Period, AutoShutdown, Children, Steps}) ->
    erase(exited),
    Tracer = spawn_link(fun() -> tracer(Name) end),
    put(tracer, Tracer),
    Flags = #{strategy => Strategy, intensity => Intensity, period => Period,
              auto_shutdown => AutoShutdown},
    Specs = [spec(Tracer, Child) || Child <- Children],
    case supervisor:start_link(?MODULE, {Flags, Specs}) of
        {ok, Sup} ->
            Monitor = erlang:monitor(process, Sup),
            steps(Sup, Monitor, Steps ++ [stop]);
        {error, _} ->
            trace("exit:shutdown")
    end,
    Tracer ! {flush, self()},
    receive flushed -> ok end,
    flush_exits().

flush_exits() ->
    receive {'EXIT', _, _} -> flush_exits() after 0 -> ok end.

steps(_Sup, _Monitor, []) -> ok;
steps(Sup, Monitor, [Step | Rest]) ->
    case get(exited) of
        true -> ok;
        _ ->
            case is_process_alive(Sup) of
                false -> exited(Monitor, none);
                true ->
                    step(Sup, Monitor, Step),
                    steps(Sup, Monitor, Rest)
            end
    end.

%% The supervisor has ended: print how, once.
exited(Monitor, Requested) ->
    put(exited, true),
    receive
        {'DOWN', Monitor, process, _, Reason} ->
            trace("exit:" ++ reason(Requested, Reason))
    end.

reason(stop, shutdown) -> "stopped";
reason(_, {shutdown, _}) -> "shutdown";
reason(_, Reason) when is_atom(Reason) -> atom_to_list(Reason);
reason(_, _) -> "abnormal".

step(Sup, Monitor, stop) ->
    exit(Sup, shutdown),
    exited(Monitor, stop);
step(Sup, Monitor, {Signal, Id}) when Signal =:= crash; Signal =:= finish ->
    case find(Sup, Id) of
        Pid when is_pid(Pid) ->
            Ref = erlang:monitor(process, Pid),
            Pid ! Signal,
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            settle(Sup, Monitor);
        _ -> trace("error:no-such-child:" ++ atom_to_list(Id))
    end;
step(Sup, Monitor, {wait, Ms}) ->
    timer:sleep(Ms),
    settle(Sup, Monitor);
step(Sup, _Monitor, {start_child, Child}) ->
    answer("start_child", supervisor:start_child(Sup, spec(get(tracer), Child)));
step(Sup, _Monitor, {Request, Id}) ->
    answer(atom_to_list(Request), supervisor:Request(Sup, Id));
step(Sup, _Monitor, which_children) ->
    %% OTP lists children newest first; the trace lists them in start order.
    Children = lists:reverse(supervisor:which_children(Sup)),
    trace("which:" ++ lists:join(",", [atom_to_list(Id) ++ "=" ++ status(Child)
                                       || {Id, Child, _, _} <- Children]));
step(Sup, _Monitor, count_children) ->
    Counts = supervisor:count_children(Sup),
    trace("count:" ++ lists:join(",", [atom_to_list(Key) ++ "=" ++ integer_to_list(Value)
                                       || {Key, Value} <- Counts])).

status(Pid) when is_pid(Pid) -> "running";
status(restarting) -> "restarting";
status(undefined) -> "undefined".

%% A worker anywhere in the tree, by id (ids are unique across a scenario's tree).
find(Sup, Id) -> search(supervisor:which_children(Sup), Id).

search([], _Id) -> false;
search([{Id, Pid, _, _} | _], Id) when is_pid(Pid) -> Pid;
search([{_, Pid, supervisor, _} | Rest], Id) when is_pid(Pid) ->
    case find(Pid, Id) of
        false -> search(Rest, Id);
        Found -> Found
    end;
search([_ | Rest], Id) -> search(Rest, Id).

%% Waits until every supervisor of the tree has handled what is in its mailbox (a
%% synchronous call to each, nested ones first), twice: a nested supervisor that gave
%% up is restarted by its parent on the first pass.
settle(Sup, Monitor) ->
    settle_once(Sup, Monitor),
    case get(exited) of
        true -> ok;
        _ -> settle_once(Sup, Monitor)
    end.

settle_once(Sup, Monitor) ->
    Nested = case catch supervisor:which_children(Sup) of
        Children when is_list(Children) ->
            [Pid || {_, Pid, supervisor, _} <- Children, is_pid(Pid)];
        _ -> []
    end,
    [catch sys:get_state(Pid, 10000) || Pid <- Nested],
    case catch sys:get_state(Sup, 10000) of
        {'EXIT', _} -> exited(Monitor, none);
        _ -> ok
    end.

answer(Request, Result) ->
    trace("answer:" ++ Request ++ ":" ++ result(Result)).

result(ok) -> "ok";
result({ok, _}) -> "ok";
result({ok, _, _}) -> "ok";
result({error, {already_started, _}}) -> "already_started";
result({error, Reason}) when is_atom(Reason) -> atom_to_list(Reason);
result({error, _}) -> "error".
