"""The checker's rules: stable codes, and the catalogue of calls each one reports.

Codes never change meaning; a new kind of problem gets a new code. Names are the
qualified names a call resolves to through the module's imports (``import datetime as
dt; dt.datetime.now()`` is ``datetime.datetime.now``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One kind of nondeterminism, with the deterministic way to do the same thing."""

    code: str
    title: str
    replacement: str


WALL_CLOCK = "DUR001"
RANDOMNESS = "DUR002"
ENVIRONMENT = "DUR003"
FILE_IO = "DUR004"
NETWORK_IO = "DUR005"
CONCURRENCY = "DUR006"
SLEEP = "DUR007"
GLOBAL_WRITE = "DUR008"

_TIMER = (
    "wait on a durable timer: `yield context.create_timer(timedelta(...))` (`await` in async def)"
)

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(code=WALL_CLOCK, title="wall clock", replacement="use `context.current_utc_datetime`"),
        Rule(
            code=RANDOMNESS,
            title="randomness",
            replacement="use `context.new_uuid()`, or draw the value in an activity",
        ),
        Rule(
            code=ENVIRONMENT,
            title="environment",
            replacement="pass the value in the orchestration input, or read it in an activity",
        ),
        Rule(code=FILE_IO, title="file I/O", replacement="do it in an activity"),
        Rule(code=NETWORK_IO, title="network I/O", replacement="do it in an activity"),
        Rule(
            code=CONCURRENCY,
            title="threads and processes",
            replacement="fan out activities with `context.task_all([...])`",
        ),
        Rule(code=SLEEP, title="sleeping", replacement=_TIMER),
        Rule(
            code=GLOBAL_WRITE,
            title="module-global writes",
            replacement=(
                "keep state in local variables (carried on by `continue_as_new`) or an entity"
            ),
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Banned:
    """A name whose use in an orchestrator is reported."""

    name: str
    code: str
    what: str
    """What the call does, as a verb phrase: ``reads the wall clock``."""
    instead: str | None = None
    """The replacement, when it differs from the rule's."""
    subtree: bool = False
    """Also report every name under this one (``random`` covers ``random.choice``)."""
    value: bool = False
    """A value, reported wherever it is read (``os.environ``); other names are reported
    when called, and when referenced by their exact name (``key=time.time``)."""
    max_args: int | None = None
    """Report a call only with at most this many arguments (``time.localtime()`` reads
    the clock, ``time.localtime(seconds)`` does not); a bare reference is not reported."""

    def message(self, name: str, *, called: bool) -> str:
        """The finding's text: the name as resolved, what it does, what to use instead."""
        shown = f"`{name}()`" if called else f"`{name}`"
        return f"{shown} {self.what}; {self.instead or RULES[self.code].replacement}"


def words(text: str) -> frozenset[str]:
    """The space-separated words of ``text``."""
    return frozenset(text.split())


def _many(
    code: str,
    what: str,
    names: str,
    *,
    instead: str | None = None,
    subtree: bool = False,
    value: bool = False,
    max_args: int | None = None,
) -> list[Banned]:
    return [
        Banned(
            name=name,
            code=code,
            what=what,
            instead=instead,
            subtree=subtree,
            value=value,
            max_args=max_args,
        )
        for name in names.split()
    ]


_CLOCK = "reads the wall clock"
_RANDOM = "is random"
_ENV = "reads the environment"
_FILE = "does file I/O"
_NET = "does network I/O"
_THREAD = "starts a thread"
_PROCESS = "starts a process"
_ASYNC = "runs an event loop's work outside the history"
_SLEEP = "blocks the orchestrator"
_ACTIVITY = "run it in an activity"
_PATH_METHODS = (
    "read_text read_bytes write_text write_bytes open exists is_file is_dir is_symlink "
    "iterdir glob rglob walk stat lstat owner group chmod unlink mkdir rmdir touch rename "
    "replace resolve absolute samefile readlink symlink_to hardlink_to expanduser"
)

CATALOGUE: tuple[Banned, ...] = (
    *_many(
        WALL_CLOCK,
        _CLOCK,
        "datetime.datetime.now datetime.datetime.utcnow datetime.datetime.today "
        "datetime.date.today time.time time.time_ns time.monotonic time.monotonic_ns "
        "time.perf_counter time.perf_counter_ns time.process_time time.process_time_ns "
        "time.thread_time time.thread_time_ns time.clock_gettime time.clock_gettime_ns "
        "arrow.now arrow.utcnow pendulum.now pendulum.today",
    ),
    *_many(WALL_CLOCK, _CLOCK, "time.localtime time.gmtime time.ctime time.asctime", max_args=0),
    Banned(name="time.strftime", code=WALL_CLOCK, what=_CLOCK, max_args=1),
    Banned(name="random", code=RANDOMNESS, what=_RANDOM, subtree=True),
    Banned(
        name="random.Random",
        code=RANDOMNESS,
        what="is seeded from the OS",
        instead="seed it: `random.Random(context.new_uuid())`",
        max_args=0,
    ),
    *_many(RANDOMNESS, _RANDOM, "secrets numpy.random", subtree=True),
    *_many(RANDOMNESS, _RANDOM, "random.SystemRandom secrets.SystemRandom"),
    *_many(RANDOMNESS, _RANDOM, "uuid.uuid1 uuid.uuid4", instead="use `context.new_uuid()`"),
    *_many(RANDOMNESS, _RANDOM, "os.urandom os.getrandom"),
    *_many(
        RANDOMNESS,
        "is seeded from the OS",
        "numpy.random.default_rng numpy.random.RandomState numpy.random.Generator",
        max_args=0,
        instead="seed it from `context.new_uuid()`",
    ),
    *_many(ENVIRONMENT, _ENV, "os.environ os.environb sys.argv", subtree=True, value=True),
    *_many(
        ENVIRONMENT,
        _ENV,
        "os.getenv os.getenvb os.putenv os.unsetenv os.getcwd os.getcwdb os.getpid os.getppid "
        "os.getlogin os.getuid os.cpu_count os.uname socket.gethostname "
        "platform.node platform.uname getpass.getuser pathlib.Path.cwd pathlib.Path.home "
        "os.path.expanduser os.path.expandvars os.path.abspath",
    ),
    *_many(
        FILE_IO,
        _FILE,
        "builtins.open builtins.input io.open codecs.open os.open os.fdopen os.read os.write "
        "os.listdir os.scandir os.walk os.stat os.lstat os.remove os.unlink os.rename "
        "os.replace os.mkdir os.makedirs os.rmdir os.removedirs os.chmod os.truncate "
        "os.path.exists os.path.lexists os.path.isfile os.path.isdir os.path.islink "
        "os.path.getsize os.path.getmtime os.path.getatime os.path.getctime "
        "os.path.realpath os.path.samefile glob.glob glob.iglob "
        "sqlite3.connect fileinput.input",
    ),
    *_many(FILE_IO, _FILE, "shutil tempfile", subtree=True),
    *_many(
        FILE_IO,
        _FILE,
        "tempfile.TemporaryDirectory tempfile.NamedTemporaryFile tempfile.TemporaryFile "
        "tempfile.SpooledTemporaryFile",
    ),
    *_many(FILE_IO, _FILE, " ".join(f"pathlib.Path.{m}" for m in _PATH_METHODS.split())),
    *_many(
        NETWORK_IO,
        _NET,
        "socket.socket socket.create_connection socket.create_server socket.socketpair "
        "socket.fromfd socket.getaddrinfo socket.gethostbyname socket.gethostbyname_ex "
        "socket.gethostbyaddr socket.getfqdn urllib.request.urlopen urllib.request.urlretrieve "
        "urllib.request.build_opener http.client.HTTPConnection http.client.HTTPSConnection "
        "ftplib.FTP smtplib.SMTP smtplib.SMTP_SSL asyncio.open_connection "
        "asyncio.start_server psycopg.connect psycopg2.connect redis.Redis "
        "redis.StrictRedis pymongo.MongoClient boto3.client boto3.resource "
        "aiohttp.ClientSession aiohttp.request urllib3.PoolManager urllib3.request",
    ),
    *_many(
        NETWORK_IO,
        _NET,
        " ".join(
            f"{lib}.{verb}"
            for lib in ("requests", "httpx")
            for verb in ("get", "post", "put", "patch", "delete", "head", "options", "request")
        )
        + " requests.Session requests.session httpx.Client httpx.AsyncClient httpx.stream",
    ),
    *_many(
        CONCURRENCY,
        _THREAD,
        "threading.Thread threading.Timer _thread.start_new_thread asyncio.to_thread "
        "concurrent.futures.ThreadPoolExecutor",
    ),
    *_many(
        CONCURRENCY,
        _PROCESS,
        "concurrent.futures.ProcessPoolExecutor multiprocessing.Process multiprocessing.Pool "
        "os.system os.popen os.fork os.forkpty os.execv os.execve os.execvp os.execl "
        "os.spawnv os.spawnl os.posix_spawn os.posix_spawnp",
        instead=_ACTIVITY,
    ),
    *_many(
        CONCURRENCY,
        _PROCESS,
        "subprocess.run subprocess.Popen subprocess.call subprocess.check_call "
        "subprocess.check_output subprocess.getoutput subprocess.getstatusoutput",
        instead=_ACTIVITY,
    ),
    *_many(
        CONCURRENCY,
        _ASYNC,
        "asyncio.run asyncio.create_task asyncio.ensure_future asyncio.gather asyncio.wait "
        "asyncio.wait_for asyncio.get_event_loop asyncio.new_event_loop "
        "asyncio.run_coroutine_threadsafe",
        instead="use `context.task_all([...])` / `context.task_any([...])` of durable tasks",
    ),
    *_many(SLEEP, _SLEEP, "time.sleep asyncio.sleep anyio.sleep trio.sleep gevent.sleep"),
)
"""Every banned name. An exact entry wins over a ``subtree`` entry above it."""

BY_NAME: dict[str, Banned] = {banned.name: banned for banned in CATALOGUE}

PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
"""Constructors whose result's I/O methods are ``pathlib.Path.<method>`` entries."""

MUTATORS = words(
    "append extend insert pop remove clear update setdefault popitem add discard sort "
    "reverse appendleft extendleft popleft rotate difference_update intersection_update "
    "symmetric_difference_update __setitem__ __delitem__ __iadd__"
)
"""Methods that change a list, dict, set, bytearray or deque in place."""


def lookup(name: str) -> Banned | None:
    """The catalogue entry for a qualified name: exact, or the nearest ``subtree`` parent.

    A module's subtree covers its functions, not its classes and constants (capitalised:
    ``shutil.Error``); the classes that matter have entries of their own.
    """
    exact = BY_NAME.get(name)
    if exact is not None:
        return exact
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        parent = BY_NAME.get(".".join(parts[:end]))
        if parent is not None and parent.subtree:
            return parent if parent.value or not parts[end][:1].isupper() else None
    return None
