// A test PEA on node-opcua: an OPC UA stack independent of the asyncua one Holon uses.
//
// It serves exactly the variables a vendor-structured MTP manifest declares (their node
// ids, types and namespace URI come from the JSON description written by
// holon_testing/node_pea.py) and behaves as VDI/VDE/NAMUR 2658-4 describes a service:
// operation mode and source hand-shake through the *Op (or, with StateChannel/SrcChannel
// true, the *Aut) requests and the *Act feedback, the
// procedure request through ProcedureExt -> ProcedureReq, commands through CommandExt
// gated by CommandEn (consumed, i.e. reset to 0, whether taken or not), and the state
// machine with its transient states. A self-completing procedure completes by itself
// after its duration; a continuous one stays in Execute until it is sent Complete.
// Parameters take VExt on ApplyExt when it lies within VMin..VMax: VReq at once, VOut and
// VFbk at once too or - with "outputs_at_start", as many PEAs do - only when the
// procedure they belong to starts.
//
// Usage: node pea.js description.json   (prints "READY <endpoint>" once listening)

"use strict";

const fs = require("fs");
const { OPCUAServer } = require("node-opcua-server");
const { Variant, DataType } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");

const STATE = {
  STOPPED: 4, STARTING: 8, IDLE: 16, PAUSED: 32, EXECUTE: 64, STOPPING: 128,
  ABORTING: 256, ABORTED: 512, HOLDING: 1024, HELD: 2048, UNHOLDING: 4096,
  PAUSING: 8192, RESUMING: 16384, RESETTING: 32768, COMPLETING: 65536, COMPLETED: 131072,
};
const CMD = {
  RESET: 2, START: 4, STOP: 8, HOLD: 16, UNHOLD: 32, PAUSE: 64, RESUME: 128, ABORT: 256,
  RESTART: 512, COMPLETE: 1024,
};
// Commands each state enables (CommandEn).
const ENABLED = {
  [STATE.IDLE]: CMD.START | CMD.STOP | CMD.ABORT,
  [STATE.STARTING]: CMD.STOP | CMD.ABORT | CMD.HOLD,
  [STATE.EXECUTE]: CMD.STOP | CMD.ABORT | CMD.HOLD | CMD.PAUSE | CMD.RESTART | CMD.COMPLETE,
  [STATE.COMPLETING]: CMD.STOP | CMD.ABORT | CMD.HOLD,
  [STATE.COMPLETED]: CMD.RESET | CMD.STOP | CMD.ABORT,
  [STATE.PAUSING]: CMD.STOP | CMD.ABORT | CMD.HOLD,
  [STATE.PAUSED]: CMD.RESUME | CMD.STOP | CMD.ABORT | CMD.HOLD,
  [STATE.RESUMING]: CMD.STOP | CMD.ABORT | CMD.HOLD,
  [STATE.HOLDING]: CMD.STOP | CMD.ABORT,
  [STATE.HELD]: CMD.UNHOLD | CMD.STOP | CMD.ABORT,
  [STATE.UNHOLDING]: CMD.STOP | CMD.ABORT,
  [STATE.STOPPING]: CMD.ABORT,
  [STATE.STOPPED]: CMD.RESET | CMD.ABORT,
  [STATE.ABORTING]: 0,
  [STATE.ABORTED]: CMD.RESET,
  [STATE.RESETTING]: CMD.ABORT,
};
// (command, from states) -> transient state, and where each transient state settles.
const COMMANDS = [
  [CMD.START, [STATE.IDLE], STATE.STARTING],
  [CMD.RESTART, [STATE.EXECUTE], STATE.STARTING],
  [CMD.COMPLETE, [STATE.EXECUTE], STATE.COMPLETING],
  [CMD.PAUSE, [STATE.EXECUTE], STATE.PAUSING],
  [CMD.RESUME, [STATE.PAUSED], STATE.RESUMING],
  [CMD.HOLD, [STATE.STARTING, STATE.EXECUTE, STATE.COMPLETING, STATE.PAUSING, STATE.PAUSED, STATE.RESUMING], STATE.HOLDING],
  [CMD.UNHOLD, [STATE.HELD], STATE.UNHOLDING],
  [CMD.STOP, Object.values(STATE).filter((s) => ![STATE.STOPPING, STATE.STOPPED, STATE.ABORTING, STATE.ABORTED].includes(s)), STATE.STOPPING],
  [CMD.ABORT, Object.values(STATE).filter((s) => ![STATE.ABORTING, STATE.ABORTED].includes(s)), STATE.ABORTING],
  [CMD.RESET, [STATE.COMPLETED, STATE.STOPPED, STATE.ABORTED], STATE.RESETTING],
];
const SETTLES = {
  [STATE.STARTING]: STATE.EXECUTE,
  [STATE.COMPLETING]: STATE.COMPLETED,
  [STATE.PAUSING]: STATE.PAUSED,
  [STATE.RESUMING]: STATE.EXECUTE,
  [STATE.HOLDING]: STATE.HELD,
  [STATE.UNHOLDING]: STATE.EXECUTE,
  [STATE.STOPPING]: STATE.STOPPED,
  [STATE.ABORTING]: STATE.ABORTED,
  [STATE.RESETTING]: STATE.IDLE,
};
const TRANSIENT_MS = 50;

async function main() {
  const description = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const server = new OPCUAServer({
    port: description.port,
    resourcePath: "",
    allowAnonymous: true,
    buildInfo: { productName: `${description.module} test PEA (node-opcua)` },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  const namespace = addressSpace.registerNamespace(description.namespace_uri);
  const folder = namespace.addObject({
    organizedBy: addressSpace.rootFolder.objects,
    browseName: description.module,
  });

  const values = new Map(); // key -> current JS value
  const types = new Map(); // key -> DataType
  const onWrite = new Map(); // key -> handler(value)
  const set = (key, value) => {
    if (!values.has(key)) throw new Error(`no variable ${key}`);
    values.set(key, value);
  };
  const get = (key) => values.get(key);

  // One object per data assembly (as PLCs lay them out), its variables below it.
  const assemblies = new Map();
  for (const variable of description.variables) {
    const [assembly, name] = variable.key.split(".");
    if (!assemblies.has(assembly)) {
      assemblies.set(assembly, namespace.addObject({ componentOf: folder, browseName: assembly }));
    }
    const dataType = DataType[variable.data_type];
    values.set(variable.key, variable.initial);
    types.set(variable.key, dataType);
    namespace.addVariable({
      componentOf: assemblies.get(assembly),
      browseName: name,
      nodeId: `ns=${namespace.index};${variable.identifier}`,
      dataType: variable.data_type,
      accessLevel: variable.writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
      userAccessLevel: variable.writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
      minimumSamplingInterval: 10,
      value: {
        get: () => new Variant({ dataType, value: values.get(variable.key) }),
        set: (variant) => {
          values.set(variable.key, variant.value);
          const handler = onWrite.get(variable.key);
          if (handler) setImmediate(() => handler(variant.value));
          return StatusCodes.Good;
        },
      },
    });
  }

  for (const service of description.services) {
    const v = (name) => `${service.name}.${name}`;
    const procedures = new Map(service.procedures.map((p) => [p.id, p]));
    let completion = null;
    const enter = (state) => {
      set(v("StateCur"), state);
      set(v("CommandEn"), ENABLED[state]);
      if (completion) {
        clearTimeout(completion);
        completion = null;
      }
      if (state in SETTLES) {
        setTimeout(() => {
          if (get(v("StateCur")) === state) enter(SETTLES[state]);
        }, TRANSIENT_MS);
      }
      if (state === STATE.STARTING) {
        set(v("ProcedureCur"), get(v("ProcedureReq")));
        set(v("ProcedureExt"), 0);
        for (const parameter of description.parameters) {
          if (parameter.service === service.name && parameter.procedure === get(v("ProcedureCur"))) {
            set(`${parameter.tag}.VOut`, get(`${parameter.tag}.VReq`));
            set(`${parameter.tag}.VFbk`, get(`${parameter.tag}.VReq`));
          }
        }
      }
      if (state === STATE.IDLE) set(v("ProcedureCur"), 0);
      if (state === STATE.EXECUTE) {
        const running = procedures.get(get(v("ProcedureCur")));
        if (running && running.self_completing) {
          completion = setTimeout(() => {
            if (get(v("StateCur")) === STATE.EXECUTE) enter(STATE.COMPLETING);
          }, running.duration * 1000);
        }
      }
    };
    enter(STATE.IDLE);
    const external = () => get(v("StateAutAct")) && get(v("SrcExtAct"));
    // StateChannel / SrcChannel select which requests count: *Op (false) or *Aut (true).
    set(v("StateChannel"), Boolean(description.automatic_channel));
    set(v("SrcChannel"), Boolean(description.automatic_channel));
    const request = (name, channel, action) => {
      for (const suffix of ["Op", "Aut"]) {
        onWrite.set(v(name + suffix), (value) => {
          const listening = get(v(channel)) ? "Aut" : "Op";
          if (value && suffix === listening) action();
          set(v(name + suffix), false);
        });
      }
    };
    request("StateOp", "StateChannel", () => {
      set(v("StateOffAct"), false);
      set(v("StateAutAct"), false);
      set(v("StateOpAct"), true);
    });
    request("StateAut", "StateChannel", () => {
      if (get(v("StateOffAct"))) return; // Offline -> Automatic goes through Operator
      set(v("StateOpAct"), false);
      set(v("StateAutAct"), true);
    });
    request("StateOff", "StateChannel", () => {
      if (get(v("StateCur")) !== STATE.IDLE) return;
      set(v("StateOpAct"), false);
      set(v("StateAutAct"), false);
      set(v("StateOffAct"), true);
    });
    request("SrcExt", "SrcChannel", () => {
      if (!get(v("StateAutAct"))) return;
      set(v("SrcIntAct"), false);
      set(v("SrcExtAct"), true);
    });
    request("SrcInt", "SrcChannel", () => {
      set(v("SrcExtAct"), false);
      set(v("SrcIntAct"), true);
    });
    onWrite.set(v("ProcedureExt"), (value) => {
      if (!external()) return;
      set(v("ProcedureReq"), procedures.has(value) ? value : 0);
    });
    onWrite.set(v("CommandExt"), (value) => {
      const state = get(v("StateCur"));
      const allowed = external() && (ENABLED[state] & value) === value && value !== 0;
      const startable = value !== CMD.START || procedures.has(get(v("ProcedureReq")));
      if (allowed && startable) {
        const rule = COMMANDS.find(([cmd, from]) => cmd === value && from.includes(state));
        if (rule) enter(rule[2]);
      }
      set(v("CommandExt"), 0);
    });
  }

  for (const parameter of description.parameters) {
    const p = (name) => `${parameter.tag}.${name}`;
    const limit = (name, fallback) => (values.has(p(name)) ? get(p(name)) : fallback);
    onWrite.set(p("ApplyExt"), (value) => {
      if (value) {
        const wanted = get(p("VExt"));
        if (wanted >= limit("VMin", parameter.minimum) && wanted <= limit("VMax", parameter.maximum)) {
          set(p("VReq"), wanted);
          if (!description.outputs_at_start) {
            set(p("VOut"), wanted);
            set(p("VFbk"), wanted);
          }
        }
      }
      set(p("ApplyExt"), false);
    });
  }

  await server.start();
  const endpoint = server.getEndpointUrl();
  process.stdout.write(`READY ${endpoint}\n`);
  const stop = async () => {
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
