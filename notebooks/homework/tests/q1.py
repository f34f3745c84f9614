OK_FORMAT = True

test = {'name': 'q1',
 'points': 2,
 'suites': [{'cases': [{'code': '>>> import hw1\n'
                                ">>> q1_trap == hw1.Homework(SEED).answer('q1_trap')\n"
                                'True',
                        'hidden': False,
                        'locked': False},
                       {'code': '>>> import hw1\n'
                                ">>> q1_bt == hw1.Homework(SEED).answer('q1_bt')\n"
                                'True',
                        'hidden': False,
                        'locked': False}],
             'scored': True,
             'setup': '',
             'teardown': '',
             'type': 'doctest'}]}
