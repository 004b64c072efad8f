# cyoda_wf: PGXS build
EXTENSION = cyoda_wf
EXTVERSION = 0.2.0
MODULE_big = cyoda_wf

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the current version is concatenated from sql/[0-9]*.sql
# in name order.  Released install scripts (sql/cyoda_wf--0.1.0.sql) and the
# upgrade scripts (sql/cyoda_wf--A--B.sql) are shipped as they are, frozen.
SQL_PARTS = $(sort $(wildcard sql/[0-9]*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# pg_regress: one file per feature, run against a cluster started by scripts/test.sh
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=test/out --load-extension=plpython3u
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/out/isolation

PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wmissing-prototypes -Wpointer-arith -Werror=vla
# gcc's -Wclobbered: a local changed inside PG_TRY and read after the
# longjmp of an error must be volatile.  In PG_CFLAGS, not PG_CPPFLAGS, because
# the clang that builds the JIT bitcode does not know the option.
PG_CFLAGS = $(shell $(CC) -Werror -Wclobbered -fsyntax-only -x c /dev/null 2>/dev/null && echo -Wclobbered)
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql test/out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

# The Python package processes import (from cyoda_wf import entity_service),
# with its subpackage data_ingestion (a single module up to 0.1.0: removed).
PYTHON_SITE ?= /usr/lib/python3/dist-packages
install: install-python
install-python:
	$(MKDIR_P) '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion'
	$(INSTALL_DATA) python/cyoda_wf/*.py '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/'
	$(INSTALL_DATA) python/cyoda_wf/data_ingestion/*.py '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion/'
	rm -f '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion.py'
.PHONY: install-python

# Every object depends on the shared headers (PGXS does not track them).
$(OBJS): $(wildcard src/*.h)
