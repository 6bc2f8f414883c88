-- `vmkit bench x86`: a mixed Lua 5.4 workload for Debian's lua5.4 (i386), ROUNDS (arg[1])
-- rounds of
-- - calls: recursive Fibonacci and closures,
-- - arithmetic: integer (bit operations, modulo) and float loops (a Mandelbrot row),
-- - strings: concatenation, string.format, gsub, find, byte, rep,
-- - tables: array fill and sort with a comparator, a hash table of word counts,
--   objects with metatables.
-- Prints one line per kind of work, so every runner's answer can be compared.

local rounds = tonumber(arg and arg[1]) or 1

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function calls(round)
  local function counter()
    local c = 0
    return function(step) c = c + step; return c end
  end
  local total = fib(16 + round % 4)
  local count = counter()
  for i = 1, 2000 do count(i % 7) end
  return total + count(0)
end

local function integers(round)
  local x, acc = 0x2545F491 + round, 0
  for i = 1, 10000 do
    x = x ~ (x << 13) & 0xFFFFFFFF
    x = x ~ (x >> 17)
    x = x ~ (x << 5) & 0xFFFFFFFF
    acc = (acc + x % 1000 * i) % 1000000007
  end
  return acc
end

local function floats(round)
  local inside = 0
  local y = 0.1 + round % 10 / 50
  for px = 0, 199 do
    local cr, ci = -2.0 + px * 0.015, y
    local zr, zi, n = 0.0, 0.0, 0
    while n < 50 and zr * zr + zi * zi < 4.0 do
      zr, zi = zr * zr - zi * zi + cr, 2 * zr * zi + ci
      n = n + 1
    end
    if n == 50 then inside = inside + 1 end
  end
  return inside
end

local words = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta" }

local function strings(round)
  local parts = {}
  for i = 1, 300 do
    parts[#parts + 1] = string.format("%s-%d:%.3f", words[i % #words + 1], i * round, i / 7)
  end
  local text = table.concat(parts, " ")
  local replaced, n = text:gsub("(%a+)%-(%d+)", "%2=%1")
  local found, at = 0, 1
  while true do
    local s, e = replaced:find("=eta", at, true)
    if not s then break end
    found, at = found + 1, e + 1
  end
  local sum = 0
  for i = 1, #replaced, 17 do sum = sum + replaced:byte(i) end
  return #text + n + found + sum + #(("ab"):rep(100))
end

local Point = {}
Point.__index = Point
function Point.new(x, y) return setmetatable({ x = x, y = y }, Point) end
function Point:dist2(o) local dx, dy = self.x - o.x, self.y - o.y; return dx * dx + dy * dy end
Point.__lt = function(a, b) return a.x + a.y < b.x + b.y end

local function tables(round)
  local arr = {}
  local seed = 12345 + round
  for i = 1, 500 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    arr[i] = Point.new(seed % 1000, (seed // 1000) % 1000)
  end
  table.sort(arr)
  local near = 0
  for i = 2, #arr do
    if arr[i]:dist2(arr[i - 1]) < 5000 then near = near + 1 end
  end
  local counts = {}
  for i = 1, 2000 do
    local w = words[(i * 7 + round) % #words + 1] .. (i % 13)
    counts[w] = (counts[w] or 0) + 1
  end
  local keys = {}
  for k in pairs(counts) do keys[#keys + 1] = k end
  table.sort(keys)
  return near, #keys, counts[keys[1]], arr[1].x + arr[#arr].y
end

local c, i, f, s = 0, 0, 0, 0
local t = {}
for round = 1, rounds do
  c = c + calls(round)
  i = (i + integers(round)) % 1000000007
  f = f + floats(round)
  s = s + strings(round)
  t = { tables(round) }
end
print(string.format("lua mixed: %d rounds", rounds))
print("calls", c)
print("integers", i)
print("floats", f)
print("strings", s)
print("tables", table.concat(t, " "))
