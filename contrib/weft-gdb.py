# weft-gdb.py - GDB commands for programs that use weft.
#
# Load it with `source /usr/local/share/weft/weft-gdb.py` (or wherever
# `make install` put it: $(datadir)/weft). The program needs its debug
# information for libweft (the default -g build has it).
#
#   weft tasks          list every live task of every runtime: id, name,
#                       state, the worker it last ran on, what it waits on
#   weft bt TASK        the backtrace of a task that is not running (parked
#                       or ready), given its id or its name
#
# `weft bt` shows a suspended task's stack by loading the registers its
# context switch saved (x86-64 and AArch64 builds with the assembly
# switch; not the ucontext fallback) into the selected thread for the
# duration of one `bt`, then putting the thread's own registers back. It
# needs a live process (registers cannot be written in a core file).

import gdb

STATES = {0: "ready", 1: "running", 2: "parked", 3: "finished"}


def _runtimes():
    rt = gdb.parse_and_eval("weft__runtimes")
    while int(rt) != 0:
        yield rt
        rt = rt["dbg_next"]


def _tasks():
    for rt in _runtimes():
        nshards = int(rt["nworkers"]) + 1
        for i in range(nshards):
            t = rt["shards"][i]["head"]
            while int(t) != 0:
                yield rt, t
                t = t["reg_next"]


def _name(t):
    try:
        return t["name"].string()
    except gdb.error:
        return "?"


def _waits_on(t):
    what = t["wait_what"]
    if int(what) == 0:
        return ""
    text = what.string()
    detail = int(t["wait_detail"])
    if "%" in text:
        spec = text[text.index("%"):].split()[0].rstrip(",")
        arg = ("%#x" % detail) if "x" in spec else str(detail)
        text = text.replace(spec, arg, 1)
    return text


class WeftPrefix(gdb.Command):
    """Commands for weft's tasks: weft tasks, weft bt TASK."""

    def __init__(self):
        super().__init__("weft", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, True)


class WeftTasks(gdb.Command):
    """List every live weft task: id, name, state, last worker, what it waits on."""

    def __init__(self):
        super().__init__("weft tasks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        count = 0
        for rt, t in _tasks():
            state = STATES.get(int(t["state"]), "?")
            line = "task %d '%s' %s (worker %d)" % (
                int(t["id"]), _name(t), state, int(t["last_worker"]))
            if state == "parked":
                line += " on " + _waits_on(t)
            gdb.write(line + "\n")
            count += 1
        gdb.write("%d task%s\n" % (count, "" if count == 1 else "s"))


def _find(spec):
    for rt, t in _tasks():
        if spec == _name(t) or (spec.isdigit() and int(t["id"]) == int(spec)):
            return t
    return None


def _frame_registers(sp):
    """The registers the context switch left on a suspended stack."""
    arch = gdb.selected_frame().architecture().name()
    inferior = gdb.selected_inferior()
    word = gdb.lookup_type("unsigned long")
    ptr = word.pointer()

    def load(addr):
        return int(gdb.Value(addr).cast(ptr).dereference())

    if "x86-64" in arch or "i386:x86-64" in arch:
        # Layout: switch-x86_64.S (MXCSR and x87 word, r15 r14 r13 r12 rbx
        # rbp, return address).
        return {
            "r15": load(sp + 8), "r14": load(sp + 16), "r13": load(sp + 24),
            "r12": load(sp + 32), "rbx": load(sp + 40), "rbp": load(sp + 48),
            "pc": load(sp + 56), "sp": sp + 64,
        }
    if "aarch64" in arch:
        # Layout: switch-aarch64.S (x19-x28, x29, x30, d8-d15, FPCR: 176 bytes).
        regs = {"x%d" % (19 + i): load(sp + 8 * i) for i in range(10)}
        regs["x29"] = load(sp + 80)
        regs["pc"] = load(sp + 88)
        regs["x30"] = regs["pc"]
        regs["sp"] = sp + 176
        return regs
    raise gdb.GdbError("weft bt: no frame layout for architecture %s" % arch)


class WeftBt(gdb.Command):
    """Backtrace of a suspended weft task: weft bt ID-or-NAME."""

    def __init__(self):
        super().__init__("weft bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        spec = arg.strip()
        if not spec:
            raise gdb.GdbError("usage: weft bt TASK-ID-or-NAME")
        t = _find(spec)
        if t is None:
            raise gdb.GdbError("weft bt: no live task %s" % spec)
        state = STATES.get(int(t["state"]), "?")
        if state == "running":
            raise gdb.GdbError("weft bt: task %s is running: use its thread's bt" % spec)
        if state == "finished" or int(t["stack"]) == 0:
            raise gdb.GdbError("weft bt: task %s has finished" % spec)
        sp = int(t["ctx"]["sp"])
        regs = _frame_registers(sp)
        gdb.execute("select-frame 0", to_string=True)
        saved = {name: int(gdb.parse_and_eval("$" + name)) for name in regs}
        gdb.write("task %d '%s' %s:\n" % (int(t["id"]), _name(t), state))
        try:
            for name, value in regs.items():
                gdb.execute("set $%s = %d" % (name, value), to_string=True)
            gdb.execute("bt")
        finally:
            for name, value in saved.items():
                gdb.execute("set $%s = %d" % (name, value), to_string=True)


WeftPrefix()
WeftTasks()
WeftBt()
