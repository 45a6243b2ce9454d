// The "Warning signs" section: election forensics from /v1/forensics (the
// national turnout x share fingerprint of the first contest as a heat map
// on a canvas) and the flags of every scope. The flags arrive in the feed
// too: app.js re-dispatches every feed message as a 'tally:feed' window
// event, and a snapshot or event that carries forensicsFlags updates the
// table at once. The statistics themselves move with every station, so
// they are fetched again at most every few seconds while events arrive.
// Nothing here is specific to one election.
'use strict';

(() => {
  const REFRESH_MS = 3000;
  const $ = (id) => document.getElementById(id);

  // app.js (loaded first) shares its protobuf JSON helpers.
  const { camelize, num } = window.tallyJson;
  const KIND_WORDS = {
    FORENSICS_FLAG_KIND_INTEGER_TURNOUT: 'whole-percent turnouts',
    FORENSICS_FLAG_KIND_INTEGER_SHARE: 'whole-percent shares',
    FORENSICS_FLAG_KIND_SECOND_DIGIT: 'second digits',
    FORENSICS_FLAG_KIND_TURNOUT_SHARE_SLOPE: 'share rises with turnout',
    FORENSICS_FLAG_KIND_FINGERPRINT_TAIL: 'high turnout and share together',
    FORENSICS_FLAG_KIND_FULL_TURNOUT: '100% turnout',
    FORENSICS_FLAG_KIND_UNANIMOUS_STATIONS: 'near-unanimous stations',
  };
  function scopeKey(scope) {
    const kind = scope?.kind;
    if (kind === 'SCOPE_KIND_REGION' || kind === 2) {
      return `region/${scope.id || ''}`;
    }
    if (kind === 'SCOPE_KIND_DISTRICT' || kind === 3) {
      return `district/${scope.id || ''}`;
    }
    return 'national';
  }

  const state = {
    names: new Map(),        // scope key -> name
    choices: new Map(),      // choice id -> name
    contests: new Map(),     // contest id -> { name, district }
    mainContest: '',         // the first contest: rows name only others
    flags: new Map(),        // `${contest}|${scope}` -> ScopeFlags
    forensics: null,         // the last GetForensicsResponse
    fetching: false,
    due: false,
    lastFetch: 0,
  };

  function setFlags(list, replace) {
    if (replace) state.flags.clear();
    for (const f of list || []) {
      const k = `${f.contestId || ''}|${scopeKey(f.scope)}`;
      if ((f.flags || []).length) state.flags.set(k, f);
      else state.flags.delete(k);
    }
  }

  async function refresh() {
    if (state.fetching) {
      state.due = true;
      return;
    }
    state.fetching = true;
    state.lastFetch = Date.now();
    try {
      const r = await fetch('v1/forensics', { cache: 'no-store' });
      if (r.ok) {
        state.forensics = camelize(await r.json());
        setFlags(state.forensics.flaggedScopes, true);
        render();
      }
    } catch (e) {
      // The next feed message tries again.
    } finally {
      state.fetching = false;
      if (state.due) {
        state.due = false;
        setTimeout(refresh, REFRESH_MS);
      }
    }
  }

  function scheduleRefresh() {
    const wait = state.lastFetch + REFRESH_MS - Date.now();
    if (wait <= 0) {
      refresh();
    } else if (!state.due) {
      state.due = true;
      setTimeout(() => {
        state.due = false;
        refresh();
      }, wait);
    }
  }

  function drawHeatMap(forensics) {
    const canvas = $('forensics-heatmap');
    const ctx = canvas.getContext('2d');
    const size = canvas.width;
    const cell = size / 100;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, size, size);
    const cells = forensics?.fingerprint || [];
    let heaviest = 0;
    for (const c of cells) heaviest = Math.max(heaviest, num(c.ballotsIssued));
    const top = Math.log1p(heaviest);
    for (const c of cells) {
      const weight = num(c.ballotsIssued);
      if (weight <= 0) continue;
      // Logarithmic: a few crowded cells do not hide the rest.
      const t = top > 0 ? Math.log1p(weight) / top : 0;
      const light = Math.round(92 - 70 * t);
      ctx.fillStyle = `hsl(220, 70%, ${light}%)`;
      // Turnout up the canvas, share to the right.
      ctx.fillRect(num(c.shareBin) * cell,
          size - (num(c.turnoutBin) + 1) * cell, cell, cell);
    }
    canvas.dataset.cells = String(cells.length);
    ctx.strokeStyle = '#c8ccd4';
    ctx.strokeRect(0.5, 0.5, size - 1, size - 1);
  }

  function render() {
    const section = $('forensics-section');
    if (!section) return;
    const f = state.forensics?.forensics;
    if (f) {
      section.hidden = false;
      drawHeatMap(f);
      const leader = state.choices.get(f.leaderChoiceId) || f.leaderChoiceId;
      $('forensics-caption').textContent = leader ?
        `Stations by turnout (up) and share of ${leader} (right), ` +
        `weighted by ballots issued; ${num(f.stations)} stations.` :
        'No stations counted yet.';
    }
    const body = $('forensics-table').tBodies[0];
    const rows = [];
    const entries = [...state.flags.entries()].sort((a, b) =>
      a[0].localeCompare(b[0]));
    for (const [k, scopeFlags] of entries) {
      const [contest, scope] = k.split('|');
      // A scope can be flagged in several contests (a district in the list
      // and in its own contest): rows of other contests than the main one
      // name theirs, a district's own contest by its name alone.
      const other = contest && state.mainContest &&
          contest !== state.mainContest ? state.contests.get(contest) ||
            { name: contest, district: '' } : null;
      const scopeName = state.names.get(scope) || scope;
      const where = !other ? scopeName :
        other.district && scope === `district/${other.district}` ?
          other.name : `${scopeName} · ${other.name}`;
      for (const flag of scopeFlags.flags || []) {
        const tr = document.createElement('tr');
        tr.dataset.contest = contest;
        tr.dataset.scope = scope;
        tr.dataset.kind = flag.kind || '';
        tr.dataset.severity = flag.severity || '';
        const cells = [where,
          KIND_WORDS[flag.kind] || flag.kind,
          flag.severity === 'FORENSICS_SEVERITY_STRONG' ? 'strong' : 'warning',
          flag.message || ''];
        cells.forEach((text, i) => {
          const td = document.createElement(i === 0 ? 'th' : 'td');
          if (i === 0) td.scope = 'row';
          td.textContent = text;
          tr.append(td);
        });
        rows.push(tr);
      }
    }
    body.replaceChildren(...rows);
    $('forensics-none').hidden = rows.length > 0;
    section.dataset.flagged = String(state.flags.size);
  }

  window.addEventListener('tally:feed', (e) => {
    const { kind, message } = e.detail || {};
    if (kind === 'snapshot' && message?.forensicsFlags) {
      setFlags(message.forensicsFlags, false);
      render();
    }
    if (kind === 'event') {
      if (message?.forensicsFlags) {
        setFlags(message.forensicsFlags, false);
        render();
      }
      scheduleRefresh();
    }
  });

  async function start() {
    if (!$('forensics-section')) return;
    try {
      const r = await fetch('v1/election', { cache: 'no-store' });
      if (r.ok) {
        const def = camelize(await r.json()).definition || {};
        state.names.set('national', 'National');
        for (const region of def.regions || []) {
          state.names.set(`region/${region.id}`, region.name || region.id);
        }
        for (const district of def.districts || []) {
          state.names.set(`district/${district.id}`,
              district.name || district.id);
        }
        for (const contest of def.contests || []) {
          state.contests.set(contest.id, { name: contest.name || contest.id,
            district: contest.districtId || '' });
        }
        state.mainContest = (def.contests || [])[0]?.id || '';
        for (const choice of (def.contests || [])[0]?.choices || []) {
          state.choices.set(choice.id, choice.name || choice.id);
        }
      }
    } catch (e) {
      // Ids stand in for names.
    }
    refresh();
  }

  start();
})();
