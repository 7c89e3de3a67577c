#!/usr/bin/python3
"""A Baton worker in Python, built on stubs generated from proto/coord/v1 (see generate.sh).

It opens one WorkerService.Session stream, says hello, states how many tasks it wants, runs
each task it is given (here: waits --work-ms and returns a small JSON result), and reports
started, complete and cost for each. It exits 0 after completing --tasks tasks, or, with
--tasks 0, when the coordinator drains it.

    /usr/bin/python3 worker.py --target 127.0.0.1:50051 --id py-1 --capabilities python \\
        --max-concurrency 2 --tasks 10 --cost-usd 0.01

Capabilities: --capabilities lists the task categories this worker takes, but by default that is
a preference, not a guarantee. A coordinator in its default mode (the seed's fallback) sends a
task whose category no connected worker lists to the least-loaded worker, this one included;
the worker then logs "not in --capabilities: sent by the capability fallback". Only strict
capability mode guarantees that this worker gets nothing outside --capabilities: start the
coordinator with `baton serve --require-capability`, or add the task with
"requireCapability": true. Such a task waits, its waiting_for saying why, until a worker listing
its category connects.
"""

import argparse
import itertools
import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

try:
    import grpc
    from google.protobuf import struct_pb2, text_format

    from coord.v1 import common_pb2
    from coord.v1 import worker_pb2 as pb
    from coord.v1 import worker_pb2_grpc
except ImportError as error:  # pragma: no cover - tells the user what to do
    sys.exit(f"worker.py: {error}. Install python3-grpcio and python3-protobuf, then run ./generate.sh")


def log(message):
    print(f"worker: {message}", file=sys.stderr, flush=True)


class Worker:
    def __init__(self, args):
        self.args = args
        self.outbox = queue.Queue()  # WorkerMessages for the stream; None closes our side
        self.jobs = queue.Queue()  # Assignments for the task threads
        self.lock = threading.RLock()
        self.seqs = itertools.count(1)
        self.pending = {}  # seq -> (kind, task_id, attempt): reports not yet acknowledged
        self.held = {}  # task_id -> attempt: tasks given to us and not yet settled
        self.cancelled = set()  # (task_id, attempt) the coordinator took back
        self.running = set()  # (task_id, attempt) we will run: not yet completed nor cancelled
        self.extra = set()  # (task_id, attempt) given to us after we asked for no more
        self.completes_sent = 0
        self.cap = 1  # the max_concurrency we said hello with
        self.worktree = ""  # set by a Welcome that names our workspace
        self.completed = 0
        self.draining = False
        self.closed = False
        self.stopped = threading.Event()
        self.heartbeat_s = 10.0
        self.level = 0  # how many tasks we want to hold; 0: paused
        self.exit_code = 0
        self.last_sent = time.monotonic()
        self.wait_timer = None
        self.wait_retry_s = args.wait_retry_s

    def capabilities(self):
        return [c for c in self.args.capabilities.split(",") if c]

    # --- sending ------------------------------------------------------------------------------

    def send(self, **kind):
        """Queues one WorkerMessage, e.g. send(heartbeat=pb.Heartbeat())."""
        with self.lock:
            if self.closed:
                return
            self.last_sent = time.monotonic()
            self.outbox.put(pb.WorkerMessage(**kind))

    def report(self, kind, task_id="", attempt=0, **fields):
        """Sends a started/complete/failed/cost report and remembers it until its receipt."""
        with self.lock:
            seq = next(self.seqs)
            self.pending[seq] = (kind, task_id, attempt)
        message_type = {"started": pb.Started, "complete": pb.Complete, "failed": pb.Failed, "cost": pb.Cost}[kind]
        fields["task_id"] = task_id
        if kind != "cost":  # a cost report names no attempt
            fields["attempt"] = attempt
        self.send(**{kind: message_type(seq=seq, **fields)})

    def commit_work(self, task_id):
        """In a workspace, the "work" is a file per task, committed on the worker's branch; the
        completion carries the new HEAD, so the coordinator's conflict matrix follows it."""
        path = os.path.join(self.worktree, f"{task_id}.txt")
        with open(path, "w") as f:
            f.write(f"done by {self.args.id}\n")
        git = ["git", "-C", self.worktree, "-c", "user.name=Baton Python worker", "-c", "user.email=python@baton.invalid"]
        subprocess.run(git + ["add", "--", path], check=True)
        subprocess.run(git + ["commit", "-q", "-m", f"task {task_id}"], check=True)
        return subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    def want(self, level, held=0):
        """Asks to hold `level` tasks: Request.count is how many more than we hold now."""
        self.level = level
        self.send(request=pb.Request(count=max(0, level - held)))

    def close(self):
        """Closes our side of the stream; the coordinator then ends it."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.outbox.put(None)
        self.stopped.set()

    def outgoing(self):
        """The request iterator gRPC reads the stream's messages from."""
        while True:
            message = self.outbox.get()
            if message is None:
                return
            yield message

    # --- background threads -------------------------------------------------------------------

    def heartbeats(self):
        """Any message renews the lease; say "still alive" when there was nothing else to say."""
        while not self.stopped.wait(self.heartbeat_s / 2):
            if time.monotonic() - self.last_sent >= self.heartbeat_s:
                self.send(heartbeat=pb.Heartbeat())

    def run_tasks(self):
        while True:
            assignment = self.jobs.get()
            if assignment is None:
                return
            key = (assignment.task_id, assignment.attempt)
            if key in self.cancelled:
                continue
            self.report("started", *key)
            time.sleep(self.args.work_ms / 1000)  # the "work"
            head = self.commit_work(assignment.task_id) if self.worktree else ""
            result = struct_pb2.Value()
            result.struct_value.update({"by": "python", "task": assignment.task_id})
            with self.lock:
                if key in self.cancelled:
                    continue  # reports about a cancelled attempt would be refused
                self.running.discard(key)
                self.completes_sent += 1
                # The coordinator keeps us at our stated demand, refilling as tasks complete. With
                # a task budget, restate it before this complete goes out (same stream, so it is
                # applied first): hold no more than the tasks we still want; 0 pauses.
                if self.args.tasks:
                    self.want(min(self.cap, self.args.tasks - self.completes_sent), len(self.running))
                # The spend first: once the last task completes, a draining coordinator is drained.
                if self.args.cost_usd > 0:
                    self.report("cost", assignment.task_id, total_usd=self.args.cost_usd)
                self.report("complete", *key, result=result, head_commit=head)

    # --- what the coordinator says ------------------------------------------------------------

    def on_welcome(self, welcome):
        self.heartbeat_s = max(welcome.heartbeat_interval_ms, 100) / 1000
        log(f"welcome {welcome.worker_id}: lease {welcome.lease_ttl_ms} ms, "
            f"heartbeat {welcome.heartbeat_interval_ms} ms, max concurrency {welcome.max_concurrency}")
        if welcome.worktree_path:
            self.worktree = welcome.worktree_path
            log(f"workspace {welcome.worktree_path} on branch {welcome.branch} (lands on {welcome.target_branch})")
        threading.Thread(target=self.heartbeats, daemon=True).start()

    def on_proceed(self, proceed):
        self.cancel_wait_timer()
        self.wait_retry_s = self.args.wait_retry_s
        for assignment in proceed.assignments:
            key = (assignment.task_id, assignment.attempt)
            with self.lock:
                if self.args.tasks and self.completes_sent + len(self.running) >= self.args.tasks:
                    # Given after we paused (a coordinator that ignores Request.count). Reporting
                    # it failed would only bounce it back to us while we are connected; leave it
                    # alone so that it returns to pending when our lease lapses.
                    log(f"{assignment.task_id} attempt {assignment.attempt}: more than we asked for; not running it")
                    self.extra.add(key)
                    continue
                self.running.add(key)
            if assignment.category and assignment.category not in self.capabilities():
                log(f"{assignment.task_id}: category {assignment.category} is not in --capabilities: sent by the "
                    "capability fallback (baton serve --require-capability, or requireCapability on the task, "
                    "forbids it)")
            self.held[assignment.task_id] = assignment.attempt
            self.jobs.put(assignment)

    def on_wait(self, wait):
        log(f"wait: {wait.reason}")
        # The coordinator pushes Proceed when something becomes ready; restating the demand after
        # a while is only a safety net.
        self.cancel_wait_timer()
        self.wait_timer = threading.Timer(self.wait_retry_s, self.rerequest)
        self.wait_retry_s = min(self.wait_retry_s * 2, 60)  # back off while nothing comes
        self.wait_timer.daemon = True
        self.wait_timer.start()

    def rerequest(self):
        if not self.draining and self.level > len(self.held):
            self.want(self.level, len(self.held))

    def cancel_wait_timer(self):
        if self.wait_timer is not None:
            self.wait_timer.cancel()
            self.wait_timer = None

    def on_cancel(self, cancel):
        log(f"cancel {cancel.task_id} attempt {cancel.attempt}: {cancel.reason}")
        key = (cancel.task_id, cancel.attempt)
        with self.lock:
            self.cancelled.add(key)
            self.running.discard(key)
            if self.held.get(cancel.task_id) == cancel.attempt:
                del self.held[cancel.task_id]
            if self.args.tasks and self.level == 0 and not self.draining:
                # We had paused, counting on this task: ask for one more in its place.
                level = min(self.cap, self.args.tasks - self.completes_sent)
                if level > len(self.running):
                    self.want(level, len(self.running))

    def on_budget_stop(self, stop):
        log(f"budget stop: {stop.reason} (spent {stop.spent_usd:.2f} of {stop.budget_usd:.2f} USD)")
        self.draining = True
        self.exit_code = 3
        self.want(0)
        # Stop spending: hand back what we hold so that other workers can take it.
        for task_id, attempt in list(self.held.items()):
            self.cancelled.add((task_id, attempt))
            self.report("failed", task_id, attempt, error="worker budget stop", retryable=True)

    def on_drain(self, drain):
        log(f"drain: {drain.reason}")
        self.draining = True

    def on_ack(self, ack):
        for receipt in ack.receipts:
            with self.lock:
                kind, task_id, attempt = self.pending.pop(receipt.seq, ("?", "", 0))
            if not receipt.ok:
                log(f"{kind} {task_id} attempt {attempt} refused: "
                    f"{common_pb2.ErrorCode.Name(receipt.error.code)} {receipt.error.message}")
            if kind in ("complete", "failed") and self.held.get(task_id) == attempt:
                del self.held[task_id]
            if kind == "complete" and receipt.ok:
                self.completed += 1
                print(f"completed {task_id} attempt {attempt}", flush=True)

    def finished(self):
        if self.pending or self.held:
            return False
        if self.args.tasks:
            # level 0: paused before the last complete we wanted; nothing more is coming.
            return self.completed >= self.args.tasks or self.draining or (self.level == 0 and not self.running)
        return self.draining

    # --- the session ----------------------------------------------------------------------------

    def run(self):
        for _ in range(max(1, self.args.max_concurrency)):
            threading.Thread(target=self.run_tasks, daemon=True).start()

        level = max(1, self.args.max_concurrency)
        if self.args.tasks:
            level = min(level, self.args.tasks)  # never hold more than we mean to complete
        self.cap = level
        self.send(hello=pb.Hello(
            worker_id=self.args.id,
            capabilities=self.capabilities(),
            labels={"language": "python", "host": os.uname().nodename},
            max_concurrency=level,
            workspace=self.args.workspace,
        ))
        self.want(level)

        channel = grpc.insecure_channel(self.args.target)
        call = worker_pb2_grpc.WorkerServiceStub(channel).Session(self.outgoing())
        handlers = {
            "welcome": self.on_welcome, "proceed": self.on_proceed, "wait": self.on_wait,
            "cancel": self.on_cancel, "budget_stop": self.on_budget_stop, "drain": self.on_drain,
            "ack": self.on_ack,
        }
        try:
            for message in call:
                kind = message.WhichOneof("kind")
                if self.args.verbose:
                    log(f"<- {text_format.MessageToString(message, as_one_line=True)}")
                handlers[kind](getattr(message, kind))
                if not self.closed and self.finished():
                    self.close()
                    # The coordinator ends the stream once our side is closed; do not hang if not.
                    timer = threading.Timer(5, call.cancel)
                    timer.daemon = True
                    timer.start()
        except grpc.RpcError as error:
            if not (self.closed and error.code() == grpc.StatusCode.CANCELLED):
                log(f"session ended: {error.code().name} {error.details()}")
                return 1
        finally:
            self.cancel_wait_timer()
            self.close()
            for _ in range(max(1, self.args.max_concurrency)):
                self.jobs.put(None)
            channel.close()
        if not self.closed or not self.finished():
            log("the coordinator ended the session early")
            return 1
        log(f"done: {self.completed} task(s) completed")
        if self.extra:
            log(f"left {len(self.extra)} task(s) we did not ask for to return to pending when our lease lapses")
        if self.args.tasks and self.completed < self.args.tasks and not self.draining:
            return 1  # some completes were refused (stale attempts)
        return self.exit_code


def main():
    parser = argparse.ArgumentParser(description="A Baton worker in Python.")
    parser.add_argument("--target", default="127.0.0.1:50051", help="coordinator host:port (gRPC, plaintext)")
    parser.add_argument("--id", default=f"python-{os.getpid()}", help="stable worker id")
    parser.add_argument("--capabilities", default="",
                        help="comma-separated task categories; empty: any. Strict only under the coordinator's "
                             "--require-capability (or a task's requireCapability); otherwise the fallback may "
                             "send other categories")
    parser.add_argument("--max-concurrency", type=int, default=1, help="most tasks held at once")
    parser.add_argument("--tasks", type=int, default=0, help="exit after completing this many; 0: until drained")
    parser.add_argument("--cost-usd", type=float, default=0.0, help="cost reported per task, in US dollars")
    parser.add_argument("--work-ms", type=int, default=0, help="how long each task 'works'")
    parser.add_argument("--workspace", action="store_true",
                        help="ask for a git worktree of the coordinator's repository (baton serve --repo)")
    parser.add_argument("--verbose", action="store_true", help="log every message from the coordinator")
    parser.add_argument("--wait-retry-s", type=float, default=5.0, help="restate demand this long after a wait")
    return Worker(parser.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
